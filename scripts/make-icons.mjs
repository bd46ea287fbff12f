// Render the web app manifest's PNG icons (web/icons/icon-192.png, icon-512.png) from
// web/favicon.svg with resvg (npm's @resvg/resvg-js). The PNGs are committed; run this
// again only when the favicon changes:
//   npm install --prefix /tmp/resvg @resvg/resvg-js@2.6.2
//   RESVG=/tmp/resvg/node_modules/@resvg/resvg-js node scripts/make-icons.mjs
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const { Resvg } = require(process.env.RESVG || "@resvg/resvg-js");

const svg = fs.readFileSync(path.join(root, "web/favicon.svg"));
const out = path.join(root, "web/icons");
fs.mkdirSync(out, { recursive: true });
for (const size of [192, 512]) {
  const png = new Resvg(svg, { fitTo: { mode: "width", value: size } }).render().asPng();
  const file = path.join(out, `icon-${size}.png`);
  fs.writeFileSync(file, png);
  console.log(`${path.relative(root, file)}: ${size}×${size}, ${png.length} bytes`);
}
