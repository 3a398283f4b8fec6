//! Settings given on the command line: `KEY=VALUE` with a dotted key (`optim.lr=1e-3`,
//! `model.width=0.5`, `strategy.head=mlp`), applied to a config's TOML table and typed and
//! checked exactly like the file (an unknown key or a wrong type names the key and, for an
//! unknown one, the keys its table allows).
//!
//! Values are TOML (`1e-3`, `[4, 8]`, `true`, `"text"`); a value that is not TOML is taken as
//! a string, so `data.dataset=fashion-mnist` needs no quotes. Setting `model.arch` or
//! `strategy.kind` starts that table afresh from the new kind's defaults — settings after it
//! on the same command line then adjust the new kind.

use std::fmt;
use std::str::FromStr;

use crate::error::{Result, TrainError};

/// One `KEY=VALUE` setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The dotted key's parts (`["optim", "lr"]`).
    pub path: Vec<String>,
    /// The value.
    pub value: toml::Value,
    /// The value as typed.
    text: String,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.path.join("."), self.text)
    }
}

impl FromStr for Setting {
    type Err = TrainError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| TrainError::value("--set", format!("`{s}`: {why}"));
        let (key, text) = s
            .split_once('=')
            .ok_or_else(|| bad("use KEY=VALUE, e.g. optim.lr=1e-3"))?;
        let path: Vec<String> = key
            .trim()
            .split('.')
            .map(|p| p.trim().to_string())
            .collect();
        if path.iter().any(|p| {
            p.is_empty()
                || !p
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }) {
            return Err(bad(
                "the key is a dotted path of config keys (letters, digits, '_', '-'), e.g. model.width",
            ));
        }
        let text = text.trim().to_string();
        let value = toml::from_str::<toml::Table>(&format!("v = {text}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(text.clone()));
        Ok(Setting { path, value, text })
    }
}

/// The tables whose kind key selects the other keys: changing the kind starts them afresh.
const KIND_KEYS: [(&str, &str); 2] = [("model", "arch"), ("strategy", "kind")];

impl Setting {
    /// Sets this value in `table`, creating the tables on its path. An integer given where the
    /// table holds a float becomes a float (`model.width=1`).
    pub fn apply(&self, table: &mut toml::Table) -> Result<()> {
        let (last, parents) = self.path.split_last().expect("a key has a part");
        let mut t = table;
        for (depth, p) in parents.iter().enumerate() {
            let entry = t
                .entry(p.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            t = match entry {
                toml::Value::Table(inner) => inner,
                other => {
                    return Err(TrainError::value(
                        &self.path.join("."),
                        format!(
                            "(--set {self}): `{}` is a value ({}), not a table with keys",
                            self.path[..=depth].join("."),
                            other.type_str()
                        ),
                    ));
                }
            };
        }
        if parents.len() == 1 && KIND_KEYS.contains(&(parents[0].as_str(), last.as_str())) {
            t.clear();
        }
        let value = match (t.get(last), &self.value) {
            (Some(toml::Value::Float(_)), toml::Value::Integer(i)) => toml::Value::Float(*i as f64),
            (_, v) => v.clone(),
        };
        t.insert(last.clone(), value);
        Ok(())
    }
}

/// `cfg` with `settings` applied in order, each parsed and typed like the config file: the
/// error names the setting, and for an unknown key the keys its table allows.
pub fn apply_settings(
    cfg: &super::TrainConfig,
    settings: &[Setting],
) -> Result<super::TrainConfig> {
    let mut table: toml::Table = toml::from_str(&cfg.to_toml()).expect("a config round-trips");
    let mut out = cfg.clone();
    for s in settings {
        s.apply(&mut table)?;
        let text = toml::to_string(&table).expect("a table serializes");
        out = toml::from_str(&text).map_err(|e: toml::de::Error| {
            TrainError::value(
                &s.path.join("."),
                format!("(--set {s}): {}", e.message().trim_end()),
            )
        })?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrainConfig;

    fn base() -> TrainConfig {
        TrainConfig::example("lenet5", "e2e", infoplane_data::DatasetName::Mnist10k).unwrap()
    }

    fn set(cfg: &TrainConfig, s: &[&str]) -> Result<TrainConfig> {
        let parsed: Vec<Setting> = s.iter().map(|t| t.parse()).collect::<Result<_>>()?;
        apply_settings(cfg, &parsed)
    }

    #[test]
    fn settings_change_exactly_their_key() {
        let c = base();
        let d = set(
            &c,
            &[
                "optim.lr=1e-3",
                "model.width=2",
                "data.dataset=fashion-mnist",
                "optim.milestones=[4, 8]",
                "epochs=3",
            ],
        )
        .unwrap();
        assert_eq!(d.optim.lr, 1e-3);
        assert_eq!(d.model.width(), 2.0);
        assert_eq!(d.data.dataset, infoplane_data::DatasetName::FashionMnist);
        assert_eq!(d.optim.milestones, vec![4, 8]);
        assert_eq!(d.epochs, 3);
        // Nothing else moved.
        let mut back = d.clone();
        back.optim.lr = c.optim.lr;
        back.model = c.model.clone();
        back.data.dataset = c.data.dataset;
        back.optim.milestones = c.optim.milestones.clone();
        back.epochs = c.epochs;
        assert_eq!(back, c);
    }

    #[test]
    fn a_new_kind_starts_from_its_defaults_and_later_settings_adjust_it() {
        let d = set(&base(), &["strategy.kind=layerwise", "strategy.head=mlp"]).unwrap();
        assert_eq!(d.strategy.kind(), "layerwise");
        assert!(d.to_toml().contains("head = \"mlp\""), "{}", d.to_toml());
        let m = set(&base(), &["model.arch=mlp", "model.hidden=64"]).unwrap();
        assert!(m.to_toml().contains("hidden = 64"), "{}", m.to_toml());
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_setting() {
        let e = set(&base(), &["optim.lrr=1"]).unwrap_err().to_string();
        assert!(e.contains("optim.lrr=1") && e.contains("`lr`"), "{e}");
        let e = set(&base(), &["optim.lr=fast"]).unwrap_err().to_string();
        assert!(
            e.contains("optim.lr=fast") && e.contains("invalid type"),
            "{e}"
        );
        let e = set(&base(), &["epochs.x=1"]).unwrap_err().to_string();
        assert!(e.contains("`epochs` is a value"), "{e}");
        assert!("optim.lr".parse::<Setting>().is_err());
        assert!("optim..lr=1".parse::<Setting>().is_err());
    }
}
