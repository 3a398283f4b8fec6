//! Cross-crate tests of infoplane, one binary with a module per topic.

mod common;
mod data;
mod forward;
mod hsic;
mod methods;
mod models;
mod toy;
mod train;
