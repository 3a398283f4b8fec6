//! Every experiment file plans at every scale, and every claim, figure and table names runs
//! and stages that exist.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use infoplane_reproduce::checks::Stages;
use infoplane_reproduce::experiment::{Scale, artifacts};
use infoplane_reproduce::plan::{Layout, Overrides, plan};
use infoplane_train::build_model;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Stages of every run of a plan.
fn stage_counts(p: &infoplane_reproduce::Plan) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in &p.runs {
        let mut cfg = r.config().clone();
        cfg.model.set_width(0.0625);
        let checked = cfg.check().expect("a planned config checks");
        let shape = infoplane_reproduce::estimate::input_shape(checked.config());
        let n = build_model(&checked, shape, &Device::flex())
            .expect("the model builds")
            .num_stages();
        out.insert(r.name.clone(), n);
    }
    for t in &p.file.toys {
        out.insert(t.name.clone(), 1);
    }
    out
}

#[test]
fn every_claim_figure_and_table_names_runs_and_stages_that_exist() {
    let root = root();
    let names = artifacts(&root).unwrap();
    assert!(names.len() >= 21, "{names:?}");
    assert!(names.iter().any(|(n, all)| n == "quick" && !all));
    for (name, _) in &names {
        // Runs left out at a scale (`skip_quick`) are checked with their paper-scale stages.
        let mut paper_stages = BTreeMap::new();
        for scale in [Scale::Paper, Scale::Quick, Scale::Tiny] {
            let p = plan(
                &root,
                name,
                scale,
                &Layout::Pool(std::env::temp_dir()),
                &Overrides::default(),
            )
            .unwrap_or_else(|e| panic!("{name} at {}: {e}", scale.as_str()));
            if p.runs.is_empty() {
                continue;
            }
            let mut stages = stage_counts(&p);
            if scale == Scale::Paper {
                assert!(p.skipped.is_empty(), "{name}: runs skipped at paper scale");
                paper_stages = stages.clone();
            }
            for run in &p.skipped {
                assert!(
                    !stages.contains_key(run),
                    "{name}: `{run}` planned and skipped"
                );
                stages.insert(run.clone(), paper_stages[run]);
            }
            let where_ = |what: &str| format!("{name} ({}): {what}", scale.as_str());
            for c in &p.file.claims {
                assert!(!c.require.is_empty(), "{}", where_(&c.id));
                for run in c.runs() {
                    assert!(
                        stages.contains_key(run),
                        "{}",
                        where_(&format!("claim `{}` names run `{run}`", c.id))
                    );
                }
                for r in c.require.iter().chain(&c.premise) {
                    for (run, group) in r.stage_groups() {
                        group.indices(stages[run]).unwrap_or_else(|e| {
                            panic!("{}", where_(&format!("claim `{}`: {e}", c.id)))
                        });
                    }
                }
            }
            for f in &p.file.figures {
                for run in &f.runs {
                    assert!(
                        stages.contains_key(run.as_str()),
                        "{}",
                        where_(&format!("figure `{}` names `{run}`", f.file))
                    );
                }
            }
            for t in &p.file.tables {
                for cell in t.rows.iter().flatten() {
                    let parts: Vec<&str> = cell.split(':').collect();
                    if matches!(parts[0], "acc" | "head" | "probe" | "kept") && parts.len() > 1 {
                        let n = stages.get(parts[1]).unwrap_or_else(|| {
                            panic!("{}", where_(&format!("table cell `{cell}`")))
                        });
                        if let Some(k) = parts.get(2) {
                            let k: usize = k.parse().unwrap();
                            Stages::Range(k, k).indices(*n).unwrap_or_else(|e| {
                                panic!("{}", where_(&format!("table cell `{cell}`: {e}")))
                            });
                        }
                    }
                }
            }
            // Claims have distinct ids.
            let mut ids: Vec<&str> = p.file.claims.iter().map(|c| c.id.as_str()).collect();
            ids.sort_unstable();
            let n = ids.len();
            ids.dedup();
            assert_eq!(ids.len(), n, "{}", where_("duplicate claim ids"));
        }
    }
}

#[test]
fn a_claim_naming_a_missing_run_is_caught() {
    // The check above is not vacuous: a claim on a run the file does not have fails it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("experiments")).unwrap();
    let text = std::fs::read_to_string(root().join("experiments/fig6.toml"))
        .unwrap()
        .replace("run = \"resnet18-e2e-ce\"", "run = \"resnet18-e2e\"");
    std::fs::write(dir.path().join("experiments/fig6.toml"), text).unwrap();
    let p = plan(
        dir.path(),
        "fig6",
        Scale::Quick,
        &Layout::Pool(dir.path().join("results")),
        &Overrides::default(),
    )
    .unwrap();
    let stages = stage_counts(&p);
    let named: Vec<&str> = p.file.claims.iter().flat_map(|c| c.runs()).collect();
    assert!(named.iter().any(|r| !stages.contains_key(*r)));
}

#[test]
fn runs_marked_skip_quick_are_trained_at_paper_scale_only() {
    // Table 1 at quick scale trains VGG11's grid and every backbone's E2E cross-entropy run;
    // ResNet18's and ResNet50's other runs are left out (and listed) to keep the suite short.
    let at = |scale| {
        plan(
            &root(),
            "table1",
            scale,
            &Layout::Pool(std::env::temp_dir()),
            &Overrides::default(),
        )
        .unwrap()
    };
    let paper = at(Scale::Paper);
    assert_eq!(paper.runs.len(), 36);
    assert!(paper.skipped.is_empty());
    let quick = at(Scale::Quick);
    assert_eq!(quick.runs.len(), 14);
    assert_eq!(quick.skipped.len(), 22);
    assert!(quick.runs.iter().all(|r| !quick.skipped.contains(&r.name)));
    assert!(quick.runs.iter().any(|r| r.name == "resnet50-e2e-ce"));
    assert!(quick.runs.iter().any(|r| r.name == "vgg11-e2e-supcon"));
    assert!(
        quick.skipped.iter().all(|n| n.starts_with("resnet")
            && (n.contains("-layerwise-") || n.ends_with("-e2e-supcon")))
    );
}
