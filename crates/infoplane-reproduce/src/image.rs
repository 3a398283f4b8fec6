//! PNG output (RGB, 8 bits), written to a temporary file and renamed into place.

use std::path::Path;

use crate::error::{Context, Error, Result};

/// Writes an RGB image as PNG at `path`.
pub fn write_png(path: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    // The process id keeps two reproductions writing the same figure out of each other's way.
    let tmp = path.with_extension(format!("png.{}.tmp", std::process::id()));
    let written = encode(&tmp, width, height, rgb).and_then(|_| {
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn encode(tmp: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<()> {
    {
        let f =
            std::fs::File::create(tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut enc = png::Encoder::new(std::io::BufWriter::new(f), width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let png_err = |e: png::EncodingError| Error::msg(format!("writing {}: {e}", tmp.display()));
        let mut w = enc.write_header().map_err(png_err)?;
        w.write_image_data(rgb).map_err(png_err)?;
        w.finish().map_err(png_err)?;
    }
    Ok(())
}
