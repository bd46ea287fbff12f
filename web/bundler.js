// The JavaScript bundler of the guest worker (src/js_worker.rs; issue 12): esbuild-wasm
// (npm's esbuild-wasm, staged in esbuild/ by scripts/stage-examples.sh), loaded the
// first time an app imports an npm package, bundling the app with the packages the
// worker installed (src/npm.rs) from an in-memory file system. As the JS SDK's build
// does: one ES module, the `fastly` condition first, `fastly:*` left for the engine,
// which resolves those modules itself in module mode, and the entry's exports
// swallowed (the entry is imported for its side effects).
//
//   edgeplayBundle(files, entry, nodeBuiltins) -> Promise<{code, map} | {errors: [{text, file, line, column}]}>
//   edgeplayMapPosition(map, line, column) -> {source, line, column} | null
//   edgeplayBundlerPrepare()  (start esbuild in the background)
//
// Module resolution is Node's, as esbuild does it for the browser platform: relative
// paths with the usual extensions and index files, bare specifiers up the
// node_modules directories, a package's `exports` (conditions fastly, browser,
// import/require, default; subpaths and `*` patterns), else its `browser` (when a
// string), `module` or `main` field.
"use strict";

(function () {
  let ready = null;

  function ensure() {
    if (!ready) {
      ready = (async () => {
        importScripts("esbuild/browser.min.js");
        await self.esbuild.initialize({ wasmURL: "esbuild/esbuild.wasm", worker: false });
        return self.esbuild;
      })();
      ready.catch(() => {
        ready = null;
      });
    }
    return ready;
  }

  const EXTENSIONS = ["", ".js", ".mjs", ".cjs", ".json"];
  const INDEXES = ["/index.js", "/index.mjs", "/index.cjs", "/index.json"];

  function dirname(p) {
    const i = p.lastIndexOf("/");
    return i <= 0 ? "/" : p.slice(0, i);
  }

  function normalize(p) {
    const out = [];
    for (const part of p.split("/")) {
      if (part === "" || part === ".") continue;
      if (part === "..") out.pop();
      else out.push(part);
    }
    return "/" + out.join("/");
  }

  function loaderOf(path) {
    return path.endsWith(".json") ? "json" : "js";
  }

  function makeResolver(files) {
    const has = (p) => Object.prototype.hasOwnProperty.call(files, p);
    const isDir = (p) => {
      const prefix = p.endsWith("/") ? p : p + "/";
      for (const k in files) if (k.startsWith(prefix)) return true;
      return false;
    };
    const readJson = (p) => {
      try {
        return JSON.parse(files[p]);
      } catch {
        return null;
      }
    };

    function asFile(p) {
      for (const ext of EXTENSIONS) if (has(p + ext)) return p + ext;
      return null;
    }

    function asDir(p, kind) {
      const pj = has(p + "/package.json") ? readJson(p + "/package.json") : null;
      if (pj) {
        for (const field of ["browser", "module", "main"]) {
          if (field === "module" && kind === "require-call") continue;
          const v = pj[field];
          if (typeof v === "string") {
            const r = asFile(normalize(p + "/" + v)) || asIndex(normalize(p + "/" + v));
            if (r) return r;
          }
        }
      }
      return asIndex(p);
    }

    function asIndex(p) {
      for (const ix of INDEXES) if (has(p + ix)) return p + ix;
      return null;
    }

    function conditionsFor(kind) {
      // esbuild's for the browser platform with the SDK's `conditions: ["fastly"]`
      // (custom conditions drop its `module` default).
      const c = new Set(["fastly", "browser", "default"]);
      c.add(kind === "require-call" ? "require" : "import");
      return c;
    }

    function pickTarget(value, conds) {
      if (typeof value === "string") return value;
      if (Array.isArray(value)) {
        for (const v of value) {
          const r = pickTarget(v, conds);
          if (r) return r;
        }
        return null;
      }
      if (value && typeof value === "object") {
        for (const key of Object.keys(value)) {
          if (conds.has(key)) {
            const r = pickTarget(value[key], conds);
            if (r) return r;
          }
        }
      }
      return null;
    }

    // A package's `exports` for `sub` ("." or "./x"); undefined when it has none.
    function viaExports(pkgDir, pj, sub, kind) {
      let exp = pj.exports;
      if (exp === undefined || exp === null) return undefined;
      const conds = conditionsFor(kind);
      if (typeof exp === "string" || Array.isArray(exp) || !Object.keys(exp).some((k) => k.startsWith("."))) {
        exp = { ".": exp };
      }
      let target = null;
      if (Object.prototype.hasOwnProperty.call(exp, sub)) {
        target = pickTarget(exp[sub], conds);
      } else {
        // The longest matching `*` pattern.
        let best = null;
        for (const key of Object.keys(exp)) {
          const star = key.indexOf("*");
          if (star < 0) continue;
          const pre = key.slice(0, star);
          const post = key.slice(star + 1);
          if (sub.startsWith(pre) && sub.endsWith(post) && sub.length >= key.length - 1) {
            if (!best || pre.length > best.pre.length) best = { key, pre, post };
          }
        }
        if (best) {
          const middle = sub.slice(best.pre.length, sub.length - best.post.length);
          const t = pickTarget(exp[best.key], conds);
          if (t) target = t.split("*").join(middle);
        }
      }
      if (!target) {
        throw new Error(`"${sub}" is not exported by the package in ${pkgDir} (its package.json "exports")`);
      }
      const p = normalize(pkgDir + "/" + target);
      if (!has(p)) throw new Error(`${p} (from the package's "exports") is not in the package`);
      return p;
    }

    function resolveBare(spec, fromDir, kind) {
      const parts = spec.split("/");
      const name = spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
      const rest = spec.slice(name.length);
      let dir = fromDir;
      for (;;) {
        const pkgDir = normalize(dir + "/node_modules/" + name);
        if (has(pkgDir + "/package.json") || isDir(pkgDir)) {
          const pj = has(pkgDir + "/package.json") ? readJson(pkgDir + "/package.json") || {} : {};
          const viaExp = viaExports(pkgDir, pj, rest ? "." + rest : ".", kind);
          if (viaExp !== undefined) return viaExp;
          const target = pkgDir + rest;
          const r = rest ? asFile(target) || asDir(target, kind) : asDir(pkgDir, kind);
          if (r) return r;
          throw new Error(`${spec}: nothing to import in ${pkgDir}${rest ? " for " + rest : ""}`);
        }
        if (dir === "/") break;
        dir = dirname(dir);
      }
      return null;
    }

    return function resolve(spec, importer, kind) {
      const fromDir = importer ? dirname(importer) : "/app";
      if (spec.startsWith("./") || spec.startsWith("../") || spec.startsWith("/")) {
        const p = normalize(spec.startsWith("/") ? spec : fromDir + "/" + spec);
        return asFile(p) || asDir(p, kind);
      }
      return resolveBare(spec, fromDir, kind);
    };
  }

  function fsPlugin(files, entry, builtins) {
    const resolve = makeResolver(files);
    return {
      name: "edgeplay-files",
      setup(build) {
        build.onResolve({ filter: /.*/ }, (args) => {
          if (args.kind === "entry-point") return { path: entry, namespace: "entry" };
          if (args.path.startsWith("fastly:")) return { path: args.path, external: true };
          if (args.path.startsWith("node:") || builtins.has(args.path.split("/")[0])) {
            return {
              errors: [{
                text: `"${args.path}" is one of Node's built-in modules, which Compute does not have: use the web APIs (fetch, crypto.subtle, TextEncoder) or a package written for them`,
              }],
            };
          }
          try {
            const importer = args.namespace === "entry" ? entry : args.importer;
            const p = resolve(args.path, importer, args.kind);
            if (p) return { path: p, namespace: "files" };
          } catch (e) {
            return { errors: [{ text: e.message }] };
          }
          return {
            errors: [{ text: `"${args.path}" could not be resolved: add its package under Packages (npm name or name@version)` }],
          };
        });
        // The entry is imported for its side effects (addEventListener), as the SDK does.
        build.onLoad({ filter: /.*/, namespace: "entry" }, () => ({
          contents: `import ${JSON.stringify(entry)};`,
          loader: "js",
          resolveDir: dirname(entry),
        }));
        build.onLoad({ filter: /.*/, namespace: "files" }, (args) => ({
          contents: files[args.path],
          loader: loaderOf(args.path),
          resolveDir: dirname(args.path),
        }));
      },
    };
  }

  // Start esbuild now (the page lists packages); the promise is the one builds await.
  self.edgeplayBundlerPrepare = function () {
    ensure().catch(() => {});
  };

  self.edgeplayBundle = async function (files, entry, builtinList) {
    const builtins = new Set(builtinList || []);
    const esbuild = await ensure();
    try {
      const out = await esbuild.build({
        entryPoints: [entry],
        bundle: true,
        write: false,
        format: "esm",
        platform: "browser",
        conditions: ["fastly"],
        outfile: "/out/app.js",
        sourcemap: "external",
        sourcesContent: false,
        logLevel: "silent",
        plugins: [fsPlugin(files, entry, builtins)],
      });
      let code = "";
      let map = "";
      for (const f of out.outputFiles) {
        if (f.path.endsWith(".map")) map = f.text;
        else code = f.text;
      }
      return { code, map };
    } catch (e) {
      const errors = (e && e.errors) || [{ text: String((e && e.message) || e) }];
      return {
        errors: errors.map((m) => ({
          text: m.text,
          file: m.location ? m.location.file.replace(/^files:/, "") : null,
          line: m.location ? m.location.line : null,
          column: m.location ? m.location.column + 1 : null,
        })),
      };
    }
  };

  // Source map version 3: where (1-based line and column) in the sources a place in
  // the bundle came from.
  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  function decodeVlq(segment) {
    const out = [];
    let value = 0;
    let shift = 0;
    for (const ch of segment) {
      const d = B64.indexOf(ch);
      if (d < 0) return out;
      value += (d & 31) << shift;
      if (d & 32) {
        shift += 5;
      } else {
        out.push(value & 1 ? -(value >>> 1) : value >>> 1);
        value = 0;
        shift = 0;
      }
    }
    return out;
  }

  self.edgeplayMapPosition = function (mapText, line, column) {
    let map;
    try {
      map = JSON.parse(mapText);
    } catch {
      return null;
    }
    const lines = String(map.mappings || "").split(";");
    let src = 0;
    let srcLine = 0;
    let srcCol = 0;
    let best = null;
    for (let l = 0; l < lines.length && l < line; l++) {
      let genCol = 0;
      for (const seg of lines[l].split(",")) {
        if (!seg) continue;
        const v = decodeVlq(seg);
        genCol += v[0];
        if (v.length >= 4) {
          src += v[1];
          srcLine += v[2];
          srcCol += v[3];
          if (l === line - 1 && genCol <= column - 1) {
            best = { source: map.sources[src], line: srcLine + 1, column: srcCol + 1 };
          }
        }
      }
      if (l === line - 1 && !best) {
        // Nothing before the column on this line: its first mapping.
        break;
      }
    }
    if (!best) return null;
    best.source = String(best.source || "").replace(/^files:/, "");
    return best;
  };
})();
