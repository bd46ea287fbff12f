//! Fastly Image Optimizer, locally: the options a guest passes (the SDK's
//! `sdk_claims_opts`, the Image Optimizer API's query parameters) and the transform of
//! an origin image they ask for, with the `image` crate (PNG, JPEG, GIF and WebP).
//!
//! What is applied, in the platform's order (crop, then resize, then encode):
//!
//! - `crop=W,H` (pixels, or `Np` percent of the image), `crop=W:H` (the largest
//!   region of that aspect ratio), with `,xN,yN` (pixels or `Np` from the top left)
//!   or `,offset-xN,offset-yN` (percent of the spare room; 50 centres, the default),
//!   and `,safe` (a region past the edges is cut to the image; without it that is an
//!   error, as on the platform). `smart` is accepted and centres.
//! - `width` / `height`: pixels, `Np` percent, or a fraction below 1; times `dpr`.
//!   One of them keeps the aspect ratio; with both, `fit=bounds` (the default: within
//!   the box), `cover` (covers it) or `crop` (covers it, then cut centrally to it).
//!   Images are never made larger than the source unless `enable=upscale`, as on the
//!   platform.
//! - `format`: `png`, `png8` (as `png`), `jpeg`/`pjpeg`/`bjpeg` (baseline), `gif`,
//!   `webp`/`webpll`/`webply` (lossless: the crate's WebP encoder has no lossy mode),
//!   `auto` (WebP when the client's `Accept` takes it, else the source's format);
//!   `avif`, `jxl` and `mp4` keep the source's format (noted). Without it, the
//!   source's format.
//! - `quality` (0–100, default 85): JPEG quality.
//! - `region` and `preserve_query_string_on_origin_request` are request options; every
//!   other Image Optimizer parameter is accepted and ignored, with a note.
//!
//! The answer carries `Fastly-IO-Info` (input and output size, dimensions, format) as
//! the platform writes it. A body that is not an image the crate decodes, or a
//! non-2xx origin response, passes through untouched (noted).

use image::{DynamicImage, GenericImageView, ImageFormat};
use std::io::Cursor;

/// The Image Optimizer API's parameter names: what is taken off the origin request's
/// query string (unless `preserve_query_string_on_origin_request=true`).
pub const PARAMS: &[&str] = &[
    "auto",
    "bg-color",
    "blur",
    "brightness",
    "bw",
    "canvas",
    "contrast",
    "crop",
    "disable",
    "dpr",
    "enable",
    "fit",
    "format",
    "frame",
    "height",
    "level",
    "metadata",
    "optimize",
    "orient",
    "pad",
    "precrop",
    "profile",
    "quality",
    "resize-filter",
    "saturation",
    "sharpen",
    "trim",
    "trim-color",
    "viewbox",
    "width",
];

/// A size along one axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Size {
    /// Pixels.
    Pixels(f64),
    /// A fraction of the image's size (`50p` is 0.5; a bare value below 1 too).
    Fraction(f64),
}

impl Size {
    fn parse(v: &str) -> Result<Size, String> {
        if let Some(p) = v.strip_suffix('p') {
            let f: f64 = p.parse().map_err(|_| format!("not a percentage: {v:?}"))?;
            return Ok(Size::Fraction(f / 100.0));
        }
        let f: f64 = v.parse().map_err(|_| format!("not a size: {v:?}"))?;
        if !f.is_finite() || f < 0.0 {
            return Err(format!("not a size: {v:?}"));
        }
        Ok(if f < 1.0 {
            Size::Fraction(f)
        } else {
            Size::Pixels(f)
        })
    }

    fn of(self, full: u32) -> f64 {
        match self {
            Size::Pixels(p) => p,
            Size::Fraction(f) => f * f64::from(full),
        }
    }
}

/// `fit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fit {
    /// Within the box (the default).
    #[default]
    Bounds,
    /// Covering the box.
    Cover,
    /// Covering it, then cut to it.
    Crop,
}

/// A crop region, as `crop` gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Crop {
    /// Width and height, or `None` with an aspect ratio.
    size: Option<(Size, Size)>,
    /// Width:height ratio.
    ratio: Option<(f64, f64)>,
    /// The x position: pixels from the left, or percent of the spare room.
    x: Pos,
    /// The y position.
    y: Pos,
    /// Cut a region past the edges to the image instead of failing.
    safe: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Pos {
    At(Size),
    Offset(f64),
}

impl Crop {
    fn parse(v: &str) -> Result<Crop, String> {
        let mut parts = v.split(',');
        let first = parts.next().unwrap_or_default();
        let mut c = Crop {
            size: None,
            ratio: None,
            x: Pos::Offset(50.0),
            y: Pos::Offset(50.0),
            safe: false,
        };
        let rest: Vec<&str> = if let Some((w, h)) = first.split_once(':') {
            let w: f64 = w.parse().map_err(|_| format!("bad crop ratio {v:?}"))?;
            let h: f64 = h.parse().map_err(|_| format!("bad crop ratio {v:?}"))?;
            if w <= 0.0 || h <= 0.0 {
                return Err(format!("bad crop ratio {v:?}"));
            }
            c.ratio = Some((w, h));
            parts.collect()
        } else {
            let h = parts
                .next()
                .ok_or(format!("crop needs a width and a height: {v:?}"))?;
            c.size = Some((Size::parse(first)?, Size::parse(h)?));
            parts.collect()
        };
        for p in rest {
            if p == "safe" {
                c.safe = true;
            } else if p == "smart" {
            } else if let Some(o) = p.strip_prefix("offset-x") {
                c.x = Pos::Offset(o.parse().map_err(|_| format!("bad crop offset {p:?}"))?);
            } else if let Some(o) = p.strip_prefix("offset-y") {
                c.y = Pos::Offset(o.parse().map_err(|_| format!("bad crop offset {p:?}"))?);
            } else if let Some(o) = p.strip_prefix('x') {
                c.x = Pos::At(Size::parse(o)?);
            } else if let Some(o) = p.strip_prefix('y') {
                c.y = Pos::At(Size::parse(o)?);
            } else {
                return Err(format!("unknown crop part {p:?}"));
            }
        }
        Ok(c)
    }

    /// The region of a `w`×`h` image: `(x, y, width, height)`.
    fn region(&self, w: u32, h: u32) -> Result<(u32, u32, u32, u32), String> {
        let (fw, fh) = (f64::from(w), f64::from(h));
        let (cw, ch) = match (self.size, self.ratio) {
            (Some((sw, sh)), _) => (sw.of(w), sh.of(h)),
            (None, Some((rw, rh))) => {
                if fw / fh > rw / rh {
                    (fh * rw / rh, fh)
                } else {
                    (fw, fw * rh / rw)
                }
            }
            (None, None) => (fw, fh),
        };
        let place = |pos: Pos, c: f64, full: f64, whole: u32| match pos {
            Pos::At(s) => s.of(whole),
            Pos::Offset(pct) => (full - c).max(0.0) * pct / 100.0,
        };
        let (x, y) = (place(self.x, cw, fw, w), place(self.y, ch, fh, h));
        let (mut x, mut y, mut cw, mut ch) = (x.round(), y.round(), cw.round(), ch.round());
        if x + cw > fw || y + ch > fh || cw < 1.0 || ch < 1.0 {
            if !self.safe {
                return Err("Invalid crop, region out of bounds".into());
            }
            x = x.min(fw - 1.0);
            y = y.min(fh - 1.0);
            cw = cw.min(fw - x).max(1.0);
            ch = ch.min(fh - y).max(1.0);
        }
        Ok((x as u32, y as u32, cw as u32, ch as u32))
    }
}

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// PNG.
    Png,
    /// Baseline JPEG.
    Jpeg,
    /// GIF.
    Gif,
    /// Lossless WebP.
    WebP,
    /// WebP if the client accepts it, else the source's format.
    Auto,
    /// The source's format (a format the crate does not encode: `avif`, `jxl`, `mp4`).
    Source,
}

/// The options of one Image Optimizer request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// `region`.
    pub region: Option<String>,
    /// `width`.
    pub width: Option<Size>,
    /// `height`.
    pub height: Option<Size>,
    /// `dpr`.
    pub dpr: Option<f64>,
    /// `fit`.
    pub fit: Fit,
    /// `crop`.
    pub crop: Option<Crop>,
    /// `format`.
    pub format: Option<Format>,
    /// `quality`.
    pub quality: Option<u8>,
    /// `enable=upscale`.
    pub upscale: bool,
    /// `preserve_query_string_on_origin_request=true`.
    pub preserve_query: bool,
    /// What was accepted and has no effect here, for the trace.
    pub ignored: Vec<String>,
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}

impl Options {
    /// Parse a query string of Image Optimizer parameters (the SDK's claims, or a
    /// request's query). A malformed value is an error (the platform's 400).
    pub fn parse(query: &str) -> Result<Options, String> {
        let mut o = Options::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (decode(k), decode(v));
            match k.as_str() {
                "region" => o.region = Some(v),
                "width" => o.width = Some(Size::parse(&v)?),
                "height" => o.height = Some(Size::parse(&v)?),
                "dpr" => {
                    let d: f64 = v.parse().map_err(|_| format!("bad dpr {v:?}"))?;
                    if !(0.0..=10.0).contains(&d) {
                        return Err("dpr must be between 0 and 10".into());
                    }
                    o.dpr = Some(d);
                }
                "fit" => {
                    o.fit = match v.as_str() {
                        "bounds" => Fit::Bounds,
                        "cover" => Fit::Cover,
                        "crop" => Fit::Crop,
                        _ => return Err(format!("bad fit {v:?}")),
                    }
                }
                "crop" => o.crop = Some(Crop::parse(&v)?),
                "format" => {
                    o.format = Some(match v.as_str() {
                        "png" | "png8" => Format::Png,
                        "jpeg" | "jpg" | "pjpeg" | "bjpeg" => Format::Jpeg,
                        "gif" => Format::Gif,
                        "webp" | "webpll" | "webply" => Format::WebP,
                        "auto" => Format::Auto,
                        "avif" | "jpegxl" | "jxl" | "mp4" => {
                            o.ignored
                                .push(format!("format={v} (edgeplay keeps the source's format)"));
                            Format::Source
                        }
                        _ => return Err(format!("bad format {v:?}")),
                    })
                }
                "quality" => {
                    let q = v.split(',').next().unwrap_or_default();
                    let q: u8 = q.parse().map_err(|_| format!("bad quality {v:?}"))?;
                    if q > 100 {
                        return Err("quality must be between 0 and 100".into());
                    }
                    o.quality = Some(q);
                }
                "enable" => {
                    if v == "upscale" {
                        o.upscale = true;
                    }
                }
                "preserve_query_string_on_origin_request" => o.preserve_query = v == "true",
                "allow_malformed_query_params" => {}
                _ => o.ignored.push(k),
            }
        }
        Ok(o)
    }

    /// The options of a request to `url` with the SDK's `claims` (if any): the Image
    /// Optimizer parameters of the URL's query, then the claims, which take precedence
    /// over query parameters of the same name (as the SDK documents).
    pub fn for_request(url: &str, claims: Option<&str>) -> Result<Options, String> {
        let query = url.split_once('?').map_or("", |(_, q)| q);
        let mut all: Vec<&str> = query
            .split('&')
            .filter(|p| {
                let k = p.split_once('=').map_or(*p, |(k, _)| k);
                PARAMS.contains(&decode(k).as_str())
            })
            .collect();
        all.extend(claims);
        Options::parse(&all.join("&"))
    }

    /// The origin request's URL: the Image Optimizer parameters taken off its query
    /// string, unless the options preserve it.
    pub fn origin_url(&self, url: &str) -> String {
        if self.preserve_query {
            return url.to_string();
        }
        let Some((base, query)) = url.split_once('?') else {
            return url.to_string();
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| {
                let k = p.split_once('=').map_or(*p, |(k, _)| k);
                !p.is_empty() && !PARAMS.contains(&decode(k).as_str())
            })
            .collect();
        if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    }
}

/// A transformed image.
#[derive(Clone, Debug, PartialEq)]
pub struct Transformed {
    /// The encoded image.
    pub body: Vec<u8>,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// The `Fastly-IO-Info` header.
    pub info: String,
    /// Output width and height.
    pub dims: (u32, u32),
}

fn format_name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Png => "png",
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Gif => "gif",
        ImageFormat::WebP => "webp",
        _ => "other",
    }
}

fn mime(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Png => "image/png",
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::Gif => "image/gif",
        ImageFormat::WebP => "image/webp",
        _ => "application/octet-stream",
    }
}

/// A resize: the new width and height, then the box `fit=crop` cuts it to.
type Resize = (u32, u32, Option<(u32, u32)>);

/// The output size of a `w`×`h` image (after any crop), and whether `fit=crop` cuts
/// it to the box afterwards.
fn target(o: &Options, w: u32, h: u32) -> Option<Resize> {
    let dpr = o.dpr.unwrap_or(1.0);
    let (fw, fh) = (f64::from(w), f64::from(h));
    let bw = o.width.map(|s| s.of(w) * dpr);
    let bh = o.height.map(|s| s.of(h) * dpr);
    let (scale, cut) = match (bw, bh) {
        (None, None) if dpr == 1.0 => return None,
        (None, None) => (dpr, None),
        (Some(bw), None) => (bw / fw, None),
        (None, Some(bh)) => (bh / fh, None),
        (Some(bw), Some(bh)) => match o.fit {
            Fit::Bounds => ((bw / fw).min(bh / fh), None),
            Fit::Cover => ((bw / fw).max(bh / fh), None),
            Fit::Crop => ((bw / fw).max(bh / fh), Some((bw, bh))),
        },
    };
    let scale = if o.upscale { scale } else { scale.min(1.0) };
    let (tw, th) = (
        (fw * scale).round().max(1.0) as u32,
        (fh * scale).round().max(1.0) as u32,
    );
    let cut = cut.map(|(bw, bh)| {
        (
            (bw.round().max(1.0) as u32).min(tw),
            (bh.round().max(1.0) as u32).min(th),
        )
    });
    Some((tw, th, cut))
}

/// Transform an origin image as `o` asks; `accept` is the client's `Accept` header
/// (for `format=auto`). An error is what the platform answers 400 with.
pub fn transform(input: &[u8], o: &Options, accept: &str) -> Result<Transformed, String> {
    let in_fmt = image::guess_format(input).map_err(|e| format!("not an image: {e}"))?;
    let mut img = image::load_from_memory_with_format(input, in_fmt)
        .map_err(|e| format!("could not decode the {} image: {e}", format_name(in_fmt)))?;
    let (iw, ih) = img.dimensions();
    if let Some(c) = &o.crop {
        let (x, y, w, h) = c.region(iw, ih)?;
        img = img.crop_imm(x, y, w, h);
    }
    let (w, h) = img.dimensions();
    if let Some((tw, th, cut)) = target(o, w, h) {
        if (tw, th) != (w, h) {
            img = img.resize_exact(tw, th, image::imageops::FilterType::Lanczos3);
        }
        if let Some((cw, ch)) = cut {
            let x = (tw - cw) / 2;
            let y = (th - ch) / 2;
            img = img.crop_imm(x, y, cw, ch);
        }
    }
    let out_fmt = match o.format.unwrap_or(Format::Source) {
        Format::Png => ImageFormat::Png,
        Format::Jpeg => ImageFormat::Jpeg,
        Format::Gif => ImageFormat::Gif,
        Format::WebP => ImageFormat::WebP,
        Format::Auto if accept.contains("image/webp") => ImageFormat::WebP,
        Format::Auto | Format::Source => in_fmt,
    };
    let body = encode(&img, out_fmt, o.quality.unwrap_or(85))?;
    let (ow, oh) = img.dimensions();
    Ok(Transformed {
        info: format!(
            "ifsz={} idim={iw}x{ih} ifmt={} ofsz={} odim={ow}x{oh} ofmt={}",
            input.len(),
            format_name(in_fmt),
            body.len(),
            format_name(out_fmt)
        ),
        content_type: mime(out_fmt),
        body,
        dims: (ow, oh),
    })
}

fn encode(img: &DynamicImage, f: ImageFormat, quality: u8) -> Result<Vec<u8>, String> {
    let mut out = Cursor::new(Vec::new());
    let r = match f {
        ImageFormat::Jpeg => {
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.max(1));
            img.to_rgb8().write_with_encoder(enc)
        }
        ImageFormat::Gif => img.to_rgba8().write_to(&mut out, f),
        ImageFormat::WebP => img.to_rgba8().write_to(&mut out, f),
        _ => img.write_to(&mut out, f),
    };
    r.map_err(|e| format!("could not encode {}: {e}", format_name(f)))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([x as u8, y as u8, 7, 255]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn run(q: &str) -> Transformed {
        transform(&png(400, 200), &Options::parse(q).unwrap(), "").unwrap()
    }

    #[test]
    fn widths_heights_and_fits() {
        assert_eq!(run("width=100").dims, (100, 50));
        assert_eq!(run("height=50p").dims, (200, 100));
        assert_eq!(run("width=0.25").dims, (100, 50));
        assert_eq!(run("width=100&height=100").dims, (100, 50), "bounds");
        assert_eq!(run("width=100&height=100&fit=cover").dims, (200, 100));
        assert_eq!(run("width=100&height=100&fit=crop").dims, (100, 100));
        assert_eq!(run("width=800").dims, (400, 200), "no upscaling");
        assert_eq!(run("width=800&enable=upscale").dims, (800, 400));
        assert_eq!(run("width=100&dpr=2").dims, (200, 100));
    }

    #[test]
    fn crops() {
        assert_eq!(run("crop=100,50").dims, (100, 50));
        assert_eq!(run("crop=1:1").dims, (200, 200));
        assert_eq!(run("crop=50p,50p,x10,y10").dims, (200, 100));
        assert_eq!(run("crop=1:1&width=50").dims, (50, 50), "crop, then resize");
        let o = Options::parse("crop=300,300,x200").unwrap();
        assert!(transform(&png(400, 200), &o, "").is_err(), "out of bounds");
        let o = Options::parse("crop=300,300,x200,safe").unwrap();
        assert_eq!(transform(&png(400, 200), &o, "").unwrap().dims, (200, 200));
    }

    #[test]
    fn formats_and_info() {
        let t = run("format=jpeg&quality=50&width=40");
        assert_eq!(t.content_type, "image/jpeg");
        assert_eq!(image::guess_format(&t.body).unwrap(), ImageFormat::Jpeg);
        assert!(t.info.starts_with("ifsz="), "{}", t.info);
        assert!(t.info.contains(" idim=400x200 ifmt=png "), "{}", t.info);
        assert!(t.info.ends_with(" odim=40x20 ofmt=jpeg"), "{}", t.info);
        for (f, want) in [
            ("gif", ImageFormat::Gif),
            ("webp", ImageFormat::WebP),
            ("png", ImageFormat::Png),
        ] {
            let t = run(&format!("format={f}&width=10"));
            assert_eq!(image::guess_format(&t.body).unwrap(), want, "{f}");
            assert_eq!(
                image::load_from_memory(&t.body).unwrap().dimensions(),
                (10, 5)
            );
        }
        let o = Options::parse("format=auto").unwrap();
        let t = transform(&png(4, 4), &o, "image/avif,image/webp,*/*").unwrap();
        assert_eq!(t.content_type, "image/webp");
        assert!(Options::parse("quality=101").is_err());
        assert!(Options::parse("width=abc").is_err());
        assert!(transform(b"not an image", &Options::default(), "").is_err());
    }

    #[test]
    fn the_origin_request_loses_the_optimizer_parameters() {
        let o = Options::parse("width=10").unwrap();
        assert_eq!(
            o.origin_url("http://o.test/a.png?width=10&v=3&crop=1%3A1"),
            "http://o.test/a.png?v=3"
        );
        assert_eq!(
            o.origin_url("http://o.test/a.png?width=10"),
            "http://o.test/a.png"
        );
        let o = Options::for_request("http://o.test/a?width=10&v=2&height=5", Some("width=20"))
            .unwrap();
        assert_eq!(o.width, Some(Size::Pixels(20.0)), "the claims win");
        assert_eq!(o.height, Some(Size::Pixels(5.0)));
        assert!(o.ignored.is_empty(), "v is not an optimizer parameter");
        let keep = Options::parse("preserve_query_string_on_origin_request=true").unwrap();
        assert_eq!(
            keep.origin_url("http://o.test/a?width=1"),
            "http://o.test/a?width=1"
        );
        assert_eq!(
            Options::parse("region=us_east&sharpen=1").unwrap().ignored,
            ["sharpen"]
        );
    }
}
