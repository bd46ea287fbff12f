//! Image Optimizer through the SDK: fetches `/img.png` (keeping the client's query)
//! from the backend `origin` with `width=100`, `format=jpeg` and `quality=70` (region
//! `us_east`), and answers what came back. The query's own Image Optimizer parameters
//! apply too; the options set here win over them.
use fastly::image_optimizer::{Format, ImageOptimizerOptions, ImageOptimizerRegion, PixelsOrPercentage};
use fastly::{Error, Request, Response};

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let mut opts = ImageOptimizerOptions::from_region(ImageOptimizerRegion::UsEast);
    opts.width = Some(PixelsOrPercentage::Pixels(100));
    opts.format = Some(Format::JPEG);
    opts.quality = Some(70);
    let query = req.get_query_str().map(|q| format!("?{q}")).unwrap_or_default();
    let resp = Request::get(format!("http://origin.example/img.png{query}"))
        .with_image_optimizer(opts)
        .send("origin")?;
    Ok(resp)
}
