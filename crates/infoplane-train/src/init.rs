//! Deterministic initialization, the same on every backend: every parameter is drawn on the
//! host from our own seeded generator ([`infoplane_data::Rng`]) and loaded onto the device, so
//! one config starts from identical weights on flex, tch or wgpu.
//!
//! The distributions are PyTorch's defaults (the paper's runs used them; docs/paper-settings.md):
//!
//! | module (burn type) | parameter | distribution |
//! |---|---|---|
//! | `Linear` (weight `[in, out]`) | weight, bias | U(−1/√in, 1/√in) |
//! | `Conv2d` (weight `[out, in/groups, kh, kw]`) | weight, bias | U(−1/√fan_in, 1/√fan_in), fan_in = in/groups·kh·kw |
//! | `BatchNorm`, `LayerNorm` | gamma / beta | 1 / 0 |
//! | `PatchEmbed` | class token / position embedding | 0 / N(0, 0.02²) (as torchvision's ViT) |
//!
//! (Kaiming-uniform with a = √5 gives exactly the weight bound 1/√fan_in.) Each parameter has
//! its own stream, derived from the seed, a scope and the parameter's path in the module tree
//! (`model.stages.2.linear.weight`), so adding a head never changes a backbone weight: E2E and
//! layer-wise runs with one seed start from the same stages. A parameter of a module type not
//! listed here keeps the value burn drew for it; [`initialize`] reports how many did.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Tensor, TensorData};
use infoplane_data::Rng;

/// What [`initialize`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InitReport {
    /// Parameters drawn on the host.
    pub drawn: usize,
    /// Parameters of unknown module types, left as burn initialized them.
    pub kept: usize,
}

pub use infoplane_data::rng::stable_hash;

enum Dist {
    Uniform(f64),
    Normal(f64),
    Constant(f64),
}

struct HostInit {
    seed: u64,
    scope: u64,
    path: Vec<String>,
    containers: Vec<String>,
    /// The bound of the last weight drawn: a bias `[out]` gets the bound of its weight's
    /// fan-in, which the bias's own shape does not hold (burn visits a module's fields in
    /// declaration order, weight before bias).
    last_bound: Option<f64>,
    report: InitReport,
}

impl HostInit {
    fn dist(&self, field: &str, shape: &[usize]) -> Option<Dist> {
        // The innermost container is the module that owns the field.
        let owner = self.containers.last()?.as_str();
        let owner = owner.strip_prefix("Struct:").unwrap_or(owner);
        Some(match (owner, field) {
            ("Linear", "weight") => Dist::Uniform(1.0 / (shape[0] as f64).sqrt()),
            ("Conv2d", "weight") => {
                let fan_in: usize = shape[1..].iter().product();
                Dist::Uniform(1.0 / (fan_in as f64).sqrt())
            }
            ("Linear" | "Conv2d", "bias") => Dist::Uniform(self.last_bound?),
            ("BatchNorm" | "LayerNorm", "gamma") => Dist::Constant(1.0),
            ("BatchNorm" | "LayerNorm", "beta") => Dist::Constant(0.0),
            ("PatchEmbed", "cls") => Dist::Constant(0.0),
            ("PatchEmbed", "pos") => Dist::Normal(0.02),
            _ => return None,
        })
    }
}

impl ModuleMapper for HostInit {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.containers.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let shape = param.lazy_shape().dims::<D>().to_vec();
        let field = self.path.last().cloned().unwrap_or_default();
        if infoplane_models::summary::is_buffer(&field) {
            // Batch norm's running statistics start at 0 and 1 whatever the backend.
            return param;
        }
        let Some(dist) = self.dist(&field, &shape) else {
            self.report.kept += 1;
            return param;
        };
        if let Dist::Uniform(b) = dist
            && field == "weight"
        {
            self.last_bound = Some(b);
        }
        let path = self.path.join(".");
        let mut rng = Rng::derive(self.seed, &[self.scope, stable_hash(&path)]);
        let n: usize = shape.iter().product();
        let values: Vec<f32> = match dist {
            Dist::Uniform(b) => (0..n).map(|_| rng.uniform_range(-b, b) as f32).collect(),
            Dist::Normal(s) => (0..n).map(|_| (rng.normal() * s) as f32).collect(),
            Dist::Constant(c) => vec![c as f32; n],
        };
        self.report.drawn += 1;
        let device = param.lazy_device();
        let id = param.id;
        let data = TensorData::new(values, shape.clone());
        Param::uninitialized(
            id,
            move |dev, grad| {
                let t = Tensor::<D>::from_data(data, dev);
                if grad { t.require_grad() } else { t }
            },
            device,
            // Fresh parameters are trainable; freezing happens later, explicitly.
            true,
            shape.into(),
        )
    }
}

/// Redraws every parameter of `module` on the host from `seed` (see the module docs); `scope`
/// separates independent parts (a probe, a second network) that share a seed.
pub fn initialize<M: Module>(module: M, seed: u64, scope: &str) -> (M, InitReport) {
    let mut mapper = HostInit {
        seed,
        scope: stable_hash(scope),
        path: Vec::new(),
        containers: Vec::new(),
        last_bound: None,
        report: InitReport::default(),
    };
    let m = module.map(&mut mapper);
    (m, mapper.report)
}
