//! `results/index.md` and `results/index.html`: every artifact reproduced so far, with the
//! paper's claims and our verdicts in one table, the settings of each artifact, its figures
//! (inlined as SVG in the HTML, so the page needs no network and no other file) and links to
//! its report and run folders.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Context, Result};

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Reads every `results/<artifact>/summary.json` that exists, in the order of `names`.
fn summaries(results: &Path, names: &[String]) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for n in names {
        let p = results.join(n).join("summary.json");
        if let Ok(text) = std::fs::read_to_string(&p)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        {
            out.push((n.clone(), v));
        }
    }
    out
}

/// One artifact's section of both index files.
fn artifact_section(
    results: &Path,
    name: &str,
    v: &serde_json::Value,
    md: &mut String,
    html: &mut String,
) {
    let title = v["title"].as_str().unwrap_or(name);
    let scale_note = v["scale_note"].as_str().unwrap_or("");
    let _ = writeln!(
        md,
        "- [{name}]({name}/report.md): {title} — {} scale; {scale_note}",
        v["scale"].as_str().unwrap_or("quick")
    );
    let _ = write!(
        html,
        "<h2 id=\"{name}\">{name}: {}</h2><p><b>Scale:</b> {} — {}. <a href=\"{name}/report.md\">report.md</a>, <a href=\"{name}/summary.json\">summary.json</a>, <a href=\"{name}/runs/\">run folders</a>.</p>",
        html_escape(title),
        html_escape(v["scale"].as_str().unwrap_or("quick")),
        html_escape(scale_note)
    );
    // Accuracies.
    if let Some(runs) = v["runs"].as_object() {
        html.push_str("<table><tr><th>run</th><th>strategy</th><th>test accuracy</th></tr>");
        for (r, s) in runs {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{:.2}%</td></tr>",
                html_escape(r),
                html_escape(s["strategy"].as_str().unwrap_or("")),
                100.0 * s["test_accuracy"].as_f64().unwrap_or(f64::NAN)
            );
        }
        html.push_str("</table>");
    }
    // Figures, inline.
    for f in v["figures"].as_array().into_iter().flatten() {
        let f = f.as_str().unwrap_or("");
        if f.ends_with(".svg")
            && let Ok(svg) = std::fs::read_to_string(results.join(name).join(f))
        {
            let body = svg.find("<svg").map(|i| &svg[i..]).unwrap_or(svg.as_str());
            let _ = write!(
                html,
                "<figure>{body}<figcaption>{}</figcaption></figure>",
                html_escape(f)
            );
        }
    }
    // Claims with evidence.
    html.push_str("<ol>");
    for c in v["claims"].as_array().into_iter().flatten() {
        let _ = write!(
            html,
            "<li><b>{}</b> — “{}” ({}, line {}). {}</li>",
            html_escape(c["verdict"].as_str().unwrap_or("")),
            html_escape(c["quote"].as_str().unwrap_or("")),
            html_escape(c["setting"].as_str().unwrap_or("")),
            c["paper_line"],
            html_escape(c["evidence"].as_str().unwrap_or(""))
        );
    }
    html.push_str("</ol>");
}

/// Writes both index files over the artifacts `names` (those with a summary).
///
/// Reproductions running at once share the index: each rebuilds it from what is on disk
/// under the results folder's lock, so the last one to finish lists every artifact.
pub fn write(results: &Path, names: &[String]) -> Result<()> {
    let _lock = infoplane_train::rundir::RunLock::acquire_waiting(results)?;
    let all = summaries(results, names);
    let mut md = String::from(
        "# infoplane: the paper's artifacts reproduced so far\n\nOne line per claim of the paper, quoted with its setting, and our verdict computed from our runs (see each report for the evidence and our scale). Open `index.html` for the same page with every figure inline.\n\n| artifact | scale | claim (paper's setting) | verdict |\n|---|---|---|---|\n",
    );
    let mut html = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>infoplane results</title><style>body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px;vertical-align:top;font-size:13px}.agree{background:#e6f4e6}.disagree{background:#f8e0e0}.nc{background:#eee}svg{max-width:100%;height:auto}</style></head><body><h1>infoplane: the paper's artifacts reproduced so far</h1><p>Each claim of the paper is quoted with its setting; the verdict is computed from our runs. Each artifact's section below has its settings, figures, claims with evidence, and links to its report and run folders.</p><table><tr><th>artifact</th><th>scale</th><th>claim (paper's setting)</th><th>verdict</th></tr>",
    );
    for (name, v) in &all {
        let scale = v["scale"].as_str().unwrap_or("quick");
        for c in v["claims"].as_array().into_iter().flatten() {
            let verdict = c["verdict"].as_str().unwrap_or("").to_string();
            let verdict = match c["seeds"].as_u64() {
                Some(n) if n > 1 => format!("{verdict} ({} of {n} seeds)", c["agree"]),
                _ => verdict,
            };
            let verdict = verdict.as_str();
            let _ = writeln!(
                md,
                "| [{name}]({name}/report.md) | {scale} | \"{}\" ({}, {}) | {verdict} |",
                c["quote"].as_str().unwrap_or(""),
                c["artifact"].as_str().unwrap_or(""),
                c["setting"].as_str().unwrap_or("")
            );
            let class = match c["verdict"].as_str().unwrap_or("") {
                "agree" => "agree",
                "disagree" => "disagree",
                _ => "nc",
            };
            let _ = write!(
                html,
                "<tr><td><a href=\"#{name}\">{name}</a></td><td>{scale}</td><td>“{}” <i>({}, {})</i></td><td class=\"{class}\">{verdict}</td></tr>",
                html_escape(c["quote"].as_str().unwrap_or("")),
                html_escape(c["artifact"].as_str().unwrap_or("")),
                html_escape(c["setting"].as_str().unwrap_or(""))
            );
        }
    }
    html.push_str("</table>");
    let _ = writeln!(md, "\n## Artifacts\n");
    for (name, v) in &all {
        artifact_section(results, name, v, &mut md, &mut html);
    }
    html.push_str("</body></html>\n");
    std::fs::create_dir_all(results).with_context(|| format!("creating {}", results.display()))?;
    crate::report::write_atomic(&results.join("index.md"), &md)?;
    crate::report::write_atomic(&results.join("index.html"), &html)
}
