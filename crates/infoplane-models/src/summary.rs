//! A per-stage summary of a staged model — what a user checks before a long run: each
//! stage's output shape, parameter count and the features an auxiliary head sees after
//! pooling, and the totals.

use std::fmt;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};

use crate::heads::pooled_features;
use crate::repr::Repr;
use crate::stage::Stage;
use crate::staged::{StageRole, StagedModel};

/// True for the buffers burn visits like parameters but that no optimizer trains: batch
/// norm's running statistics.
pub fn is_buffer(field: &str) -> bool {
    matches!(field, "running_mean" | "running_var")
}

struct CountParams {
    path: Vec<String>,
    count: usize,
}

impl ModuleVisitor for CountParams {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !self.path.last().is_some_and(|f| is_buffer(f)) {
            self.count += param.lazy_shape().num_elements();
        }
    }
}

struct CountBatchNorms {
    last: Option<String>,
    count: usize,
}

impl ModuleVisitor for CountBatchNorms {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.last = Some(name.to_string());
    }

    fn visit_float<const D: usize>(&mut self, _param: &Param<Tensor<D>>) {
        if self.last.as_deref() == Some("running_mean") {
            self.count += 1;
        }
    }
}

/// Batch norm layers of a module (their running means).
pub fn count_batch_norms<M: Module>(m: &M) -> usize {
    let mut c = CountBatchNorms {
        last: None,
        count: 0,
    };
    m.visit(&mut c);
    c.count
}

/// Trainable parameters of a module, as PyTorch's `parameters()` counts them: burn's
/// `num_params` also counts batch norm's running statistics, this does not.
pub fn count_parameters<M: Module>(m: &M) -> usize {
    let mut c = CountParams {
        path: Vec::new(),
        count: 0,
    };
    m.visit(&mut c);
    c.count
}

/// One stage of a [`ModelSummary`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StageInfo {
    /// Stage name.
    pub name: String,
    /// Its role in the model.
    pub role: StageRole,
    /// Per-sample output shape as the stage produces it.
    pub output_shape: Vec<usize>,
    /// Parameters of the stage.
    pub params: usize,
    /// Features a linear/MLP head or a probe sees after the token readout and pooling.
    pub head_features: usize,
}

/// Stages and totals of a model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelSummary {
    /// The architecture, in words.
    pub description: String,
    /// Per-sample input shape.
    pub input_shape: Vec<usize>,
    /// Classes.
    pub num_classes: usize,
    /// Every stage.
    pub stages: Vec<StageInfo>,
    /// Parameters of the classifier after the last stage (0 when there is none).
    pub classifier_params: usize,
    /// All parameters.
    pub total_params: usize,
}

impl ModelSummary {
    /// Summarizes `model` (one sample runs through it on `device`).
    pub fn of<S: Stage + Module>(model: &StagedModel<S>, device: &Device) -> Self {
        let shapes = model.output_shapes(device);
        let read = model.read_shapes(device);
        let stages = model
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| StageInfo {
                name: model.names[i].clone(),
                role: model.role(i),
                output_shape: shapes[i].clone(),
                params: count_parameters(s),
                head_features: pooled_features(&read[i], model.head_features),
            })
            .collect();
        ModelSummary {
            description: model.description.clone(),
            input_shape: model.input_shape.clone(),
            num_classes: model.num_classes,
            stages,
            classifier_params: model.classifier.as_ref().map_or(0, count_parameters),
            total_params: count_parameters(model),
        }
    }
}

impl fmt::Display for ModelSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.description)?;
        writeln!(
            f,
            "input {}, {} classes",
            self.input_shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("x"),
            self.num_classes
        )?;
        writeln!(
            f,
            "{:<4} {:<12} {:<7} {:<22} {:>12} {:>14}",
            "T", "stage", "role", "output", "params", "head features"
        )?;
        for (i, s) in self.stages.iter().enumerate() {
            writeln!(
                f,
                "{:<4} {:<12} {:<7} {:<22} {:>12} {:>14}",
                format!("T{}", i + 1),
                s.name,
                s.role.as_str(),
                Repr::describe_shape(&s.output_shape),
                group(s.params),
                s.head_features
            )?;
        }
        if self.classifier_params > 0 {
            writeln!(
                f,
                "{:<4} {:<12} {:<7} {:<22} {:>12}",
                "",
                "classifier",
                "",
                format!("vec {}", self.num_classes),
                group(self.classifier_params)
            )?;
        }
        write!(f, "total parameters: {}", group(self.total_params))
    }
}

/// 11173962 → "11,173,962".
pub fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
