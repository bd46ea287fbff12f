// A Compute guest in Go with no SDK: it calls the ABI through //go:wasmimport
// (GOOS=wasip1 GOARCH=wasm, Go >= 1.24). Routes:
//
//   - /             200 "Hello from Go!" with `x-go: yes`
//   - /headers      the request's `x-name` header echoed in the body
//   - /config/KEY   the value of KEY in the config store `settings` (404 when absent)
//   - /fetch/PATH   a GET of PATH on the backend `origin`: "origin said: BODY", its status
package main

import (
	"strings"
	"unsafe"
)

//go:wasmimport fastly_http_req body_downstream_get
func reqBodyDownstreamGet(reqOut unsafe.Pointer, bodyOut unsafe.Pointer) int32

//go:wasmimport fastly_http_req uri_get
func reqURIGet(req uint32, buf unsafe.Pointer, bufLen uint32, nwritten unsafe.Pointer) int32

//go:wasmimport fastly_http_req header_value_get
func reqHeaderValueGet(req uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueMax uint32, nwritten unsafe.Pointer) int32

//go:wasmimport fastly_http_req new
func reqNew(reqOut unsafe.Pointer) int32

//go:wasmimport fastly_http_req uri_set
func reqURISet(req uint32, uri unsafe.Pointer, uriLen uint32) int32

//go:wasmimport fastly_http_req send
func reqSend(req uint32, body uint32, backend unsafe.Pointer, backendLen uint32, respOut unsafe.Pointer, bodyOut unsafe.Pointer) int32

//go:wasmimport fastly_http_resp new
func respNew(respOut unsafe.Pointer) int32

//go:wasmimport fastly_http_resp status_set
func respStatusSet(resp uint32, status uint32) int32

//go:wasmimport fastly_http_resp status_get
func respStatusGet(resp uint32, statusOut unsafe.Pointer) int32

//go:wasmimport fastly_http_resp header_append
func respHeaderAppend(resp uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32) int32

//go:wasmimport fastly_http_resp send_downstream
func respSendDownstream(resp uint32, body uint32, streaming uint32) int32

//go:wasmimport fastly_http_body new
func bodyNew(bodyOut unsafe.Pointer) int32

//go:wasmimport fastly_http_body write
func bodyWrite(body uint32, buf unsafe.Pointer, bufLen uint32, end uint32, nwritten unsafe.Pointer) int32

//go:wasmimport fastly_http_body read
func bodyRead(body uint32, buf unsafe.Pointer, bufLen uint32, nread unsafe.Pointer) int32

//go:wasmimport fastly_config_store open
func configStoreOpen(name unsafe.Pointer, nameLen uint32, handleOut unsafe.Pointer) int32

//go:wasmimport fastly_config_store get
func configStoreGet(h uint32, key unsafe.Pointer, keyLen uint32, value unsafe.Pointer, valueMax uint32, nwritten unsafe.Pointer) int32

const statusOK = 0

func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func str(s string) (unsafe.Pointer, uint32) {
	b := []byte(s)
	return ptr(b), uint32(len(b))
}

func respond(status uint32, headers [][2]string, body string) {
	var resp, b uint32
	respNew(unsafe.Pointer(&resp))
	respStatusSet(resp, status)
	for _, h := range headers {
		np, nl := str(h[0])
		vp, vl := str(h[1])
		respHeaderAppend(resp, np, nl, vp, vl)
	}
	bodyNew(unsafe.Pointer(&b))
	data := []byte(body)
	for len(data) > 0 {
		var n uint32
		if bodyWrite(b, ptr(data), uint32(len(data)), 0, unsafe.Pointer(&n)) != statusOK || n == 0 {
			break
		}
		data = data[n:]
	}
	respSendDownstream(resp, b, 0)
}

func readAll(body uint32) string {
	var out []byte
	buf := make([]byte, 4096)
	for {
		var n uint32
		if bodyRead(body, ptr(buf), uint32(len(buf)), unsafe.Pointer(&n)) != statusOK || n == 0 {
			return string(out)
		}
		out = append(out, buf[:n]...)
	}
}

func main() {
	var req, body uint32
	reqBodyDownstreamGet(unsafe.Pointer(&req), unsafe.Pointer(&body))
	buf := make([]byte, 8192)
	var n uint32
	reqURIGet(req, ptr(buf), uint32(len(buf)), unsafe.Pointer(&n))
	uri := string(buf[:n])
	path := uri
	if i := strings.Index(uri, "://"); i >= 0 {
		path = uri[i+3:]
		if j := strings.Index(path, "/"); j >= 0 {
			path = path[j:]
		} else {
			path = "/"
		}
	}
	if i := strings.Index(path, "?"); i >= 0 {
		path = path[:i]
	}
	switch {
	case path == "/headers":
		np, nl := str("x-name")
		if reqHeaderValueGet(req, np, nl, ptr(buf), uint32(len(buf)), unsafe.Pointer(&n)) != statusOK {
			respond(400, nil, "no x-name header\n")
			return
		}
		respond(200, nil, "x-name: "+string(buf[:n])+"\n")
	case strings.HasPrefix(path, "/config/"):
		key := strings.TrimPrefix(path, "/config/")
		var h uint32
		sp, sl := str("settings")
		if configStoreOpen(sp, sl, unsafe.Pointer(&h)) != statusOK {
			respond(500, nil, "no config store settings\n")
			return
		}
		kp, kl := str(key)
		if configStoreGet(h, kp, kl, ptr(buf), uint32(len(buf)), unsafe.Pointer(&n)) != statusOK {
			respond(404, nil, "no key "+key+"\n")
			return
		}
		respond(200, nil, string(buf[:n]))
	case strings.HasPrefix(path, "/fetch/"):
		var breq, bbody, bresp, rbody uint32
		reqNew(unsafe.Pointer(&breq))
		up, ul := str("http://origin.example/" + strings.TrimPrefix(path, "/fetch/"))
		reqURISet(breq, up, ul)
		bodyNew(unsafe.Pointer(&bbody))
		bp, bl := str("origin")
		if code := reqSend(breq, bbody, bp, bl, unsafe.Pointer(&bresp), unsafe.Pointer(&rbody)); code != statusOK {
			respond(502, nil, "the backend request failed\n")
			return
		}
		var status uint32
		respStatusGet(bresp, unsafe.Pointer(&status))
		respond(status, [][2]string{{"x-go", "yes"}}, "origin said: "+readAll(rbody))
	default:
		respond(200, [][2]string{{"x-go", "yes"}, {"content-type", "text/plain"}}, "Hello from Go!")
	}
}
