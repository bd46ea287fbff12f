//! Config stores, the legacy dictionary API and secret stores: `/config/<store>/<key>`, `/dict/...`, `/secret/...`.
use fastly::secret_store::{Secret, SecretStore};
use fastly::{ConfigStore, Error, Request, Response};

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let path = req.get_path().to_owned();
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(3, '/').collect();
    Ok(match parts.as_slice() {
        ["config", store, key] => config_store(store, key),
        ["dict", dict, key] => dictionary(dict, key),
        ["secret", store, key] => secret_store(store, key),
        ["secret-from-bytes", text] => match Secret::from_bytes(text.as_bytes().to_vec()) {
            Ok(secret) => Response::from_status(200).with_body(secret.plaintext().to_vec()),
            Err(e) => Response::from_status(500).with_body(format!("from_bytes failed: {e:?}")),
        },
        _ => Response::from_status(404).with_body(
            "try /config/<store>/<key>, /dict/<dict>/<key>, /secret/<store>/<key> \
             or /secret-from-bytes/<text>\n",
        ),
    })
}

fn config_store(store: &str, key: &str) -> Response {
    let store_handle = match ConfigStore::try_open(store) {
        Ok(s) => s,
        Err(e) => return open_failed(store, e),
    };
    match store_handle.try_get(key) {
        Ok(Some(value)) => Response::from_status(200).with_body(value),
        Ok(None) => missing(key),
        Err(e) => Response::from_status(500).with_body(format!("lookup {key} failed: {e:?}")),
    }
}

// `Dictionary` is the pre-0.8.6 name of `ConfigStore`; old guests still call it.
#[allow(deprecated)]
fn dictionary(dict: &str, key: &str) -> Response {
    use fastly::Dictionary;
    // `Dictionary::open` panics when the dictionary does not exist.
    let d = Dictionary::open(dict);
    match d.get(key) {
        Some(value) => Response::from_status(200).with_body(value),
        None => missing(key),
    }
}

fn secret_store(store: &str, key: &str) -> Response {
    let s = match SecretStore::open(store) {
        Ok(s) => s,
        Err(e) => return open_failed(store, e),
    };
    match s.get(key) {
        Some(secret) => Response::from_status(200).with_body(secret.plaintext().to_vec()),
        None => missing(key),
    }
}

fn missing(key: &str) -> Response {
    Response::from_status(404).with_body(format!("missing key {key}"))
}

fn open_failed(store: &str, e: impl std::fmt::Debug) -> Response {
    Response::from_status(500).with_body(format!("open {store} failed: {e:?}"))
}
