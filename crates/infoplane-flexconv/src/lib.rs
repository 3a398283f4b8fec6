//! # infoplane-flexconv
//!
//! A 2-D convolution for burn's flex CPU backend with all three gradients written out, as a
//! differentiable custom operation (burn's backend `extension` feature).
//!
//! burn-flex 0.22 implements the convolution's forward pass but none of its backward
//! operations, so burn's generic defaults apply: the input gradient is a transposed
//! convolution and the weight gradient a convolution of the input with the output gradient
//! with batch and channel dimensions swapped — few, oddly shaped matrix products. Here every
//! part is a matrix product over im2col columns ([`kernels`]), images spread over rayon's
//! threads, except for convolutions with few channels at stride 1 (LeNet5's), which run a
//! direct convolution in vector registers (`direct`, x86-64 with AVX2 and FMA), and 3×3
//! convolutions at stride 1 with many channels (most of ResNet18's and VGG11's), which run
//! Winograd's F(2×2, 3×3) ([`winograd`]): 16 products per 2×2 tile instead of 36.
//!
//! [`conv2d`] takes the same arguments as `burn::tensor::module::conv2d`. It runs our kernels
//! for f32 tensors on the flex device (with or without autodiff), without groups or dilation and
//! with symmetric padding; everything else — other backends, dtypes, groups, dilation,
//! asymmetric padding — goes to burn's own convolution. Parameters stay burn `Conv2d` records.
//!
//! The same mechanism carries max pooling ([`max_pool2d`], and [`max_pool2d_jvp`] for forward
//! mode), average pooling ([`avg_pool2d`]) and batch norm ([`batch_norm`], with burn's
//! `BatchNorm` module's semantics) — [`pool`] and [`bn`] — each falling back to burn where it
//! does not apply. `INFOPLANE_FLEXCONV=off` in the environment sends all of them to burn's path.
#![warn(missing_docs)]
#![cfg_attr(not(feature = "flex"), allow(unused))]

#[cfg(feature = "flex")]
pub mod bn;
#[cfg(all(feature = "flex", target_arch = "x86_64"))]
pub mod direct;
#[cfg(feature = "flex")]
pub mod isa;
#[cfg(feature = "flex")]
pub mod kernels;
#[cfg(feature = "flex")]
pub mod pool;
pub mod timing;
#[cfg(feature = "flex")]
pub mod winograd;

/// Reproducible test data for the kernels' unit tests.
#[cfg(all(test, feature = "flex"))]
mod test_data {
    /// `n` values in [−0.5, 0.5) from an xorshift generator seeded with `seed`.
    pub fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32) - 0.5
            })
            .collect()
    }
}

use burn::tensor::Tensor;
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};

/// The convolution options of a burn `Conv2d` for an input of `h`×`w` pixels.
pub fn conv_options(conv: &burn::nn::conv::Conv2d, h: usize, w: usize) -> ConvOptions<2> {
    use burn::nn::PaddingConfig2d;
    let (k, s) = (conv.kernel_size, conv.stride);
    let same = |k: usize, s: usize, n: usize| {
        let out = n.div_ceil(s);
        let total = ((out.max(1) - 1) * s + k).saturating_sub(n);
        (total / 2, total - total / 2)
    };
    let padding = match &conv.padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Same => [same(k[0], s[0], h), same(k[1], s[1], w)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(*top, *bottom), (*left, *right)],
    };
    ConvOptions::new_with_padding(s, padding, conv.dilation, conv.groups)
}

/// A burn `Conv2d` module's forward pass through [`conv2d`].
pub fn forward(conv: &burn::nn::conv::Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let options = conv_options(conv, h, w);
    conv2d(
        x,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        options,
    )
}

/// False when the environment variable `INFOPLANE_FLEXCONV` is `off` (every convolution and
/// pooling then takes burn's path, to compare the two), or inside [`with_burn_path`] on this
/// thread.
pub fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let env = *ON.get_or_init(|| std::env::var("INFOPLANE_FLEXCONV").map_or(true, |v| v != "off"));
    env && !BURN_PATH.with(|b| b.get())
}

/// True when our kernels may take a tensor of this dtype on this device: [`enabled`], f32, the
/// flex device (with or without autodiff).
#[cfg(feature = "flex")]
fn ours_apply(dtype: burn::tensor::DType, device: &burn::tensor::Device) -> bool {
    enabled()
        && dtype == burn::tensor::DType::F32
        && device.clone().without_autodiff() == burn::tensor::Device::flex()
}

thread_local! {
    static BURN_PATH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with every convolution and pooling called from this thread on burn's own path
/// (other threads are not affected), e.g. to train the same model both ways in one process.
pub fn with_burn_path<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            BURN_PATH.with(|b| b.set(self.0));
        }
    }
    let _restore = Restore(BURN_PATH.with(|b| b.replace(true)));
    f()
}

/// Tells glibc's allocator to keep freed memory for reuse instead of handing it back to the
/// kernel after every tensor: blocks up to 32 MiB come from the heap rather than from their own
/// mapping, and the heap is not trimmed below 2 GiB. A training step allocates and frees the
/// same large buffers (activations, im2col columns, gradients) every step; by default glibc
/// maps and unmaps each of them, and the page faults and TLB flushes that follow cost a third
/// of a ResNet18 step on 2 cores (BENCHMARKS.md). Peak memory is unchanged; memory freed
/// after the peak stays with the process. Call it once, first thing in `main`, before threads
/// start. `INFOPLANE_MALLOC=default` in the environment, another C library or another
/// operating system leave the allocator as it is. Returns whether the settings were applied.
pub fn keep_freed_memory() -> bool {
    if std::env::var("INFOPLANE_MALLOC").is_ok_and(|v| v == "default") {
        return false;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        #[allow(unsafe_code)]
        // SAFETY: mallopt only changes glibc's allocation thresholds; it takes plain integers.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// True when `conv2d` takes our path for these arguments.
pub fn supported(x: &Tensor<4>, options: &ConvOptions<2>) -> bool {
    #[cfg(feature = "flex")]
    {
        ours_apply(x.dtype(), &x.device())
            && options.groups == 1
            && options.dilation == [1, 1]
            && !options.is_asymmetric()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (x, options);
        false
    }
}

/// A 2-D convolution: `x` `[n, cin, h, w]`, `weight` `[cout, cin/groups, kh, kw]`, `bias`
/// `[cout]` → `[n, cout, hout, wout]`; our kernels where [`supported`], burn's elsewhere.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if supported(&x, &options) {
        return flex::conv2d(x, weight, bias, options);
    }
    burn::tensor::module::conv2d(x, weight, bias, options)
}

/// A burn `MaxPool2d` module's forward pass: through [`max_pool2d`] without padding, through
/// the module's own forward pass with it.
pub fn max_pool(pool: &burn::nn::pool::MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    if !matches!(pool.padding, burn::nn::PaddingConfig2d::Valid) {
        return pool.forward(x);
    }
    let options = MaxPoolOptions::new(pool.kernel_size)
        .with_stride(pool.stride)
        .with_dilation(pool.dilation)
        .with_ceil_mode(pool.ceil_mode);
    max_pool2d(x, options)
}

/// True when `max_pool2d` takes our path: f32 on the flex device, no padding, no dilation,
/// floor mode, a window that fits the input and planes of fewer than 2³² values.
pub fn pool_supported(x: &Tensor<4>, options: &MaxPoolOptions<2>) -> bool {
    #[cfg(feature = "flex")]
    {
        let [_, _, h, w] = x.dims();
        ours_apply(x.dtype(), &x.device())
            && options.padding == [(0, 0); 2]
            && options.dilation == [1, 1]
            && !options.ceil_mode
            && options.kernel_size[0] <= h
            && options.kernel_size[1] <= w
            && h.checked_mul(w).is_some_and(|n| n < u32::MAX as usize)
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (x, options);
        false
    }
}

/// 2-D max pooling with the arguments of `burn::tensor::module::max_pool2d`; our kernels
/// ([`pool`]) where [`pool_supported`], burn's elsewhere.
pub fn max_pool2d(x: Tensor<4>, options: MaxPoolOptions<2>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if pool_supported(&x, &options) {
        return flex::max_pool2d(x, options.kernel_size, options.stride);
    }
    burn::tensor::module::max_pool2d(x, options)
}

/// Forward-mode max pooling without a graph: the pooled values of `x` and the tangent `t`
/// read at the position of each window's maximum (`x` and `t` of the same shape, off the
/// autodiff device). Our kernels where [`pool_supported`], burn's pooling with indices and a
/// gather elsewhere.
pub fn max_pool2d_jvp(
    x: Tensor<4>,
    t: Tensor<4>,
    options: MaxPoolOptions<2>,
) -> (Tensor<4>, Tensor<4>) {
    #[cfg(feature = "flex")]
    if pool_supported(&x, &options) && !x.device().is_autodiff() {
        // One pooling pass: the values and the tangent come back stacked along the batch.
        let n = x.dims()[0];
        let both = flex::max_pool2d_tangent(x, t, options.kernel_size, options.stride);
        return (both.clone().narrow(0, 0, n), both.narrow(0, n, n));
    }
    let [n, c, h, w] = x.dims();
    let (y, idx) = burn::tensor::module::max_pool2d_with_indices(x, options);
    let [_, _, oh, ow] = y.dims();
    let idx: Tensor<3, burn::tensor::Int> = idx.reshape([n, c, oh * ow]);
    let ty = t
        .reshape([n, c, h * w])
        .gather(2, idx)
        .reshape([n, c, oh, ow]);
    (y, ty)
}

/// A burn `AvgPool2d` module's forward pass: through [`avg_pool2d`] without padding, through
/// the module's own forward pass with it.
pub fn avg_pool(pool: &burn::nn::pool::AvgPool2d, x: Tensor<4>) -> Tensor<4> {
    if !matches!(pool.padding, burn::nn::PaddingConfig2d::Valid) {
        return pool.forward(x);
    }
    let options = AvgPoolOptions::new(pool.kernel_size)
        .with_stride(pool.stride)
        .with_count_include_pad(pool.count_include_pad)
        .with_ceil_mode(pool.ceil_mode);
    avg_pool2d(x, options)
}

/// True when `avg_pool2d` takes our path: f32 on the flex device, no padding, floor mode, a
/// window that fits the input.
pub fn avg_pool_supported(x: &Tensor<4>, options: &AvgPoolOptions<2>) -> bool {
    #[cfg(feature = "flex")]
    {
        let [_, _, h, w] = x.dims();
        ours_apply(x.dtype(), &x.device())
            && options.padding == [(0, 0); 2]
            && !options.ceil_mode
            && options.kernel_size.iter().all(|&k| k > 0)
            && options.stride.iter().all(|&s| s > 0)
            && options.kernel_size[0] <= h
            && options.kernel_size[1] <= w
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (x, options);
        false
    }
}

/// 2-D average pooling with the arguments of `burn::tensor::module::avg_pool2d`; our kernels
/// ([`pool::avg_forward`]) where [`avg_pool_supported`], burn's elsewhere.
pub fn avg_pool2d(x: Tensor<4>, options: AvgPoolOptions<2>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if avg_pool_supported(&x, &options) {
        return flex::avg_pool2d(x, options.kernel_size, options.stride);
    }
    burn::tensor::module::avg_pool2d(x, options)
}

/// A burn `BatchNorm` module's forward pass, with the module's semantics: batch statistics and
/// an update of the running ones (`running = (1 − momentum)·running + momentum·batch`, biased
/// variance, as burn and PyTorch's `momentum` do) when the input is on an autodiff device and
/// the module is training; the running statistics otherwise. Our kernels ([`bn`]) for f32
/// inputs `[n, c, ...]` on the flex device, the module's own forward pass elsewhere.
pub fn batch_norm<const D: usize>(bn: &burn::nn::BatchNorm, x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if batch_norm_supported(bn, &x) {
        let training = x.device().is_autodiff() && bn.training.is_enabled();
        return flex::batch_norm(bn, x, training);
    }
    bn.forward(x)
}

/// True when [`batch_norm`] takes our path.
pub fn batch_norm_supported<const D: usize>(bn: &burn::nn::BatchNorm, x: &Tensor<D>) -> bool {
    #[cfg(feature = "flex")]
    {
        let dims = x.dims();
        D >= 2
            && ours_apply(x.dtype(), &x.device())
            && dims[1] == bn.gamma.dims()[0]
            && bn.gamma.val().dtype() == burn::tensor::DType::F32
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (bn, x);
        false
    }
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Bytes, DType, Shape, Tensor};
    use burn_flex::{FlexTensor, Layout};

    use crate::bn::{self, BnGeometry};
    use crate::kernels::{self, ConvGeometry};
    use crate::pool::{self, PoolGeometry};
    use crate::timing;

    fn pool_geometry(x: &FlexTensor, kernel: [usize; 2], stride: [usize; 2]) -> PoolGeometry {
        let s = x.layout().shape();
        PoolGeometry {
            planes: s[0] * s[1],
            h: s[2],
            w: s[3],
            kernel,
            stride,
        }
    }

    fn pool_forward(
        x: FlexTensor,
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> (FlexTensor, Vec<u32>, Vec<usize>) {
        let x = x.to_contiguous();
        let shape = x.layout().shape().to_vec();
        let g = pool_geometry(&x, kernel, stride);
        let (y, idx) = timing::time(timing::Op::PoolForward, || {
            pool::forward(&g, x.storage::<f32>())
        });
        (
            tensor(y, vec![shape[0], shape[1], g.hout(), g.wout()]),
            idx,
            shape,
        )
    }

    /// The convolution as a backend extension: flex runs [`kernels`], autodiff records the
    /// backward step.
    #[backend_extension(Flex, Autodiff)]
    pub trait FlexConv: Backend {
        /// `x` `[n, cin, h, w]`, `weight` `[cout, cin, kh, kw]`, `bias` `[cout]`.
        fn flex_conv2d(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: FloatTensor<Self>,
            stride: [usize; 2],
            padding: [usize; 2],
        ) -> FloatTensor<Self>;

        /// Max pooling of `x` `[n, c, h, w]` without padding or dilation.
        fn flex_max_pool2d(
            x: FloatTensor<Self>,
            kernel: [usize; 2],
            stride: [usize; 2],
        ) -> FloatTensor<Self>;

        /// Max pooling of `x` `[n, c, h, w]` and the tangent `t` read at the maxima of its
        /// windows (max pooling's forward-mode rule), stacked along the batch: `[2n, c, hout,
        /// wout]`, the pooled values first; never tracked.
        fn flex_max_pool2d_tangent(
            x: FloatTensor<Self>,
            t: FloatTensor<Self>,
            kernel: [usize; 2],
            stride: [usize; 2],
        ) -> FloatTensor<Self>;

        /// Average pooling of `x` `[n, c, h, w]` without padding.
        fn flex_avg_pool2d(
            x: FloatTensor<Self>,
            kernel: [usize; 2],
            stride: [usize; 2],
        ) -> FloatTensor<Self>;

        /// Per channel of `x` `[n, c, ...]`: mean and biased variance, `[2, c]`; never tracked.
        fn flex_channel_stats(x: FloatTensor<Self>) -> FloatTensor<Self>;

        /// Batch norm of `x` `[n, c, ...]` with the statistics `mean`, `var` (`[c]`); with
        /// `batch_stats` they are the batch's own and the gradient goes through them.
        fn flex_batch_norm(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            mean: FloatTensor<Self>,
            var: FloatTensor<Self>,
            epsilon: f64,
            batch_stats: bool,
        ) -> FloatTensor<Self>;
    }

    fn geometry(
        x: &FlexTensor,
        w: &FlexTensor,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> ConvGeometry {
        let xs = x.layout().shape();
        let ws = w.layout().shape();
        ConvGeometry {
            n: xs[0],
            cin: xs[1],
            h: xs[2],
            w: xs[3],
            cout: ws[0],
            kh: ws[2],
            kw: ws[3],
            stride,
            padding,
        }
    }

    fn tensor(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
        FlexTensor::new(
            Bytes::from_elems(values),
            Layout::contiguous(Shape::from(shape)),
            DType::F32,
        )
    }

    fn forward(
        x: FlexTensor,
        w: FlexTensor,
        b: &FlexTensor,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FlexTensor {
        let (x, w, b) = (x.to_contiguous(), w.to_contiguous(), b.to_contiguous());
        let g = geometry(&x, &w, stride, padding);
        let y = timing::time(timing::Op::ConvForward, || {
            kernels::forward(
                &g,
                x.storage::<f32>(),
                w.storage::<f32>(),
                Some(b.storage::<f32>()),
            )
        });
        tensor(y, vec![g.n, g.cout, g.hout(), g.wout()])
    }

    impl FlexConv for Flex {
        fn flex_conv2d(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: FloatTensor<Self>,
            stride: [usize; 2],
            padding: [usize; 2],
        ) -> FloatTensor<Self> {
            forward(x, weight, &bias, stride, padding)
        }

        fn flex_max_pool2d(
            x: FloatTensor<Self>,
            kernel: [usize; 2],
            stride: [usize; 2],
        ) -> FloatTensor<Self> {
            pool_forward(x, kernel, stride).0
        }

        fn flex_max_pool2d_tangent(
            x: FloatTensor<Self>,
            t: FloatTensor<Self>,
            kernel: [usize; 2],
            stride: [usize; 2],
        ) -> FloatTensor<Self> {
            pool_tangent(x, t, kernel, stride)
        }

        fn flex_avg_pool2d(
            x: FloatTensor<Self>,
            kernel: [usize; 2],
            stride: [usize; 2],
        ) -> FloatTensor<Self> {
            avg_forward(x, kernel, stride)
        }

        fn flex_channel_stats(x: FloatTensor<Self>) -> FloatTensor<Self> {
            channel_stats(x)
        }

        fn flex_batch_norm(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            mean: FloatTensor<Self>,
            var: FloatTensor<Self>,
            epsilon: f64,
            _batch_stats: bool,
        ) -> FloatTensor<Self> {
            bn_forward(x, &gamma, &beta, &mean, &var, epsilon)
        }
    }

    fn pool_tangent(
        x: FlexTensor,
        t: FlexTensor,
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> FlexTensor {
        let (y, idx, _) = pool_forward(x, kernel, stride);
        let t = t.to_contiguous();
        let g = pool_geometry(&t, kernel, stride);
        let mut shape = y.layout().shape().to_vec();
        let both = timing::time(timing::Op::PoolForward, || {
            let values = y.storage::<f32>();
            let mut both = Vec::with_capacity(2 * values.len());
            both.extend_from_slice(values);
            both.extend(pool::gather(&g, &idx, t.storage::<f32>()));
            both
        });
        shape[0] *= 2;
        tensor(both, shape)
    }

    fn avg_forward(x: FlexTensor, kernel: [usize; 2], stride: [usize; 2]) -> FlexTensor {
        let x = x.to_contiguous();
        let s = x.layout().shape().to_vec();
        let g = pool_geometry(&x, kernel, stride);
        let y = timing::time(timing::Op::AvgPoolForward, || {
            pool::avg_forward(&g, x.storage::<f32>())
        });
        tensor(y, vec![s[0], s[1], g.hout(), g.wout()])
    }

    fn bn_geometry(x: &FlexTensor) -> BnGeometry {
        let s = x.layout().shape();
        BnGeometry {
            n: s[0],
            c: s[1],
            s: s[2..].iter().product(),
        }
    }

    fn values(t: &FlexTensor) -> Vec<f32> {
        t.to_contiguous().storage::<f32>().to_vec()
    }

    fn channel_stats(x: FlexTensor) -> FlexTensor {
        let x = x.to_contiguous();
        let g = bn_geometry(&x);
        let (mut mean, var) = timing::time(timing::Op::BatchNormForward, || {
            bn::stats(&g, x.storage::<f32>())
        });
        mean.extend(var);
        tensor(mean, vec![2, g.c])
    }

    fn bn_forward(
        x: FlexTensor,
        gamma: &FlexTensor,
        beta: &FlexTensor,
        mean: &FlexTensor,
        var: &FlexTensor,
        epsilon: f64,
    ) -> FlexTensor {
        let x = x.to_contiguous();
        let g = bn_geometry(&x);
        let shape = x.layout().shape().to_vec();
        let (gamma, beta, mean, var) = (values(gamma), values(beta), values(mean), values(var));
        let y = timing::time(timing::Op::BatchNormForward, || {
            bn::normalize(&g, x.storage::<f32>(), &gamma, &beta, &mean, &var, epsilon)
        });
        tensor(y, shape)
    }

    #[derive(Debug)]
    struct AvgPoolBackward;

    impl Backward<Flex, 1> for AvgPoolBackward {
        /// Input shape, window, stride.
        type State = (Vec<usize>, [usize; 2], [usize; 2]);

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node] = ops.parents;
            let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
            let (shape, kernel, stride) = ops.state;
            if let Some(node) = node {
                let g = PoolGeometry {
                    planes: shape[0] * shape[1],
                    h: shape[2],
                    w: shape[3],
                    kernel,
                    stride,
                };
                let dx = timing::time(timing::Op::AvgPoolBackward, || {
                    pool::avg_backward(&g, dy.storage::<f32>())
                });
                grads.register::<Flex>(node.id, tensor(dx, shape));
            }
        }
    }

    #[derive(Debug)]
    struct BatchNormBackward;

    /// What the backward pass of a batch norm keeps: the input, γ, the statistics, ε, and
    /// whether the statistics are the batch's own.
    #[derive(Debug, Clone)]
    struct BatchNormState {
        x: FlexTensor,
        gamma: Vec<f32>,
        mean: Vec<f32>,
        var: Vec<f32>,
        epsilon: f64,
        batch_stats: bool,
    }

    impl Backward<Flex, 3> for BatchNormBackward {
        type State = BatchNormState;

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node_x, node_gamma, node_beta] = ops.parents;
            let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
            let st = ops.state;
            let x = st.x.to_contiguous();
            let g = bn_geometry(&x);
            let shape = x.layout().shape().to_vec();
            let (dx, dgamma, dbeta) = timing::time(timing::Op::BatchNormBackward, || {
                bn::backward(
                    &g,
                    x.storage::<f32>(),
                    &st.gamma,
                    &st.mean,
                    &st.var,
                    st.epsilon,
                    dy.storage::<f32>(),
                    st.batch_stats,
                )
            });
            if let Some(node) = node_x {
                grads.register::<Flex>(node.id, tensor(dx, shape));
            }
            if let Some(node) = node_gamma {
                grads.register::<Flex>(node.id, tensor(dgamma, vec![g.c]));
            }
            if let Some(node) = node_beta {
                grads.register::<Flex>(node.id, tensor(dbeta, vec![g.c]));
            }
        }
    }

    #[derive(Debug)]
    struct PoolBackward;

    impl Backward<Flex, 1> for PoolBackward {
        /// Positions of the maxima, input shape, window, stride.
        type State = (Vec<u32>, Vec<usize>, [usize; 2], [usize; 2]);

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node] = ops.parents;
            let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
            let (idx, shape, kernel, stride) = ops.state;
            if let Some(node) = node {
                let g = PoolGeometry {
                    planes: shape[0] * shape[1],
                    h: shape[2],
                    w: shape[3],
                    kernel,
                    stride,
                };
                let dx = timing::time(timing::Op::PoolBackward, || {
                    pool::backward(&g, &idx, dy.storage::<f32>())
                });
                grads.register::<Flex>(node.id, tensor(dx, shape));
            }
        }
    }

    #[derive(Debug)]
    struct ConvBackward;

    impl Backward<Flex, 3> for ConvBackward {
        type State = (FlexTensor, FlexTensor, [usize; 2], [usize; 2]);

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node_x, node_w, node_b] = ops.parents;
            let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
            let (x, w, stride, padding) = ops.state;
            let (x, w) = (x.to_contiguous(), w.to_contiguous());
            let g = geometry(&x, &w, stride, padding);
            let (x, w, dy) = (x.storage::<f32>(), w.storage::<f32>(), dy.storage::<f32>());
            let dx = node_x.is_some().then(|| {
                timing::time(timing::Op::ConvInputGradient, || {
                    kernels::input_gradient(&g, w, dy)
                })
            });
            let dw = node_w.is_some().then(|| {
                timing::time(timing::Op::ConvWeightGradient, || {
                    kernels::weight_gradient(&g, x, dy)
                })
            });
            let db = node_b.is_some().then(|| {
                timing::time(timing::Op::ConvBiasGradient, || {
                    kernels::bias_gradient(&g, dy)
                })
            });
            if let (Some(node), Some(v)) = (node_x, dx) {
                grads.register::<Flex>(node.id, tensor(v, vec![g.n, g.cin, g.h, g.w]));
            }
            if let (Some(node), Some(v)) = (node_w, dw) {
                grads.register::<Flex>(node.id, tensor(v, vec![g.cout, g.cin, g.kh, g.kw]));
            }
            if let (Some(node), Some(v)) = (node_b, db) {
                grads.register::<Flex>(node.id, tensor(v, vec![g.cout]));
            }
        }
    }

    impl<C: CheckpointStrategy> FlexConv for Autodiff<Flex, C> {
        fn flex_conv2d(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: FloatTensor<Self>,
            stride: [usize; 2],
            padding: [usize; 2],
        ) -> FloatTensor<Self> {
            match ConvBackward
                .prepare::<C>([x.node(), weight.node(), bias.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let (xp, wp) = (x.primitive().clone(), weight.primitive().clone());
                    let y = forward(xp.clone(), wp.clone(), bias.primitive(), stride, padding);
                    prep.finish((xp, wp, stride, padding), y)
                }
                OpsKind::UnTracked(prep) => prep.finish(forward(
                    x.primitive().clone(),
                    weight.primitive().clone(),
                    bias.primitive(),
                    stride,
                    padding,
                )),
            }
        }

        fn flex_max_pool2d(
            x: FloatTensor<Self>,
            kernel: [usize; 2],
            stride: [usize; 2],
        ) -> FloatTensor<Self> {
            match PoolBackward
                .prepare::<C>([x.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let (y, idx, shape) = pool_forward(x.primitive().clone(), kernel, stride);
                    prep.finish((idx, shape, kernel, stride), y)
                }
                OpsKind::UnTracked(prep) => {
                    prep.finish(pool_forward(x.primitive().clone(), kernel, stride).0)
                }
            }
        }

        fn flex_avg_pool2d(
            x: FloatTensor<Self>,
            kernel: [usize; 2],
            stride: [usize; 2],
        ) -> FloatTensor<Self> {
            let shape = x.primitive().layout().shape().to_vec();
            let y = avg_forward(x.primitive().clone(), kernel, stride);
            match AvgPoolBackward
                .prepare::<C>([x.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish((shape, kernel, stride), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        }

        fn flex_max_pool2d_tangent(
            x: FloatTensor<Self>,
            t: FloatTensor<Self>,
            kernel: [usize; 2],
            stride: [usize; 2],
        ) -> FloatTensor<Self> {
            FloatTensor::<Self>::new(pool_tangent(
                x.primitive().clone(),
                t.primitive().clone(),
                kernel,
                stride,
            ))
        }

        fn flex_channel_stats(x: FloatTensor<Self>) -> FloatTensor<Self> {
            FloatTensor::<Self>::new(channel_stats(x.primitive().clone()))
        }

        fn flex_batch_norm(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            mean: FloatTensor<Self>,
            var: FloatTensor<Self>,
            epsilon: f64,
            batch_stats: bool,
        ) -> FloatTensor<Self> {
            let y = bn_forward(
                x.primitive().clone(),
                gamma.primitive(),
                beta.primitive(),
                mean.primitive(),
                var.primitive(),
                epsilon,
            );
            match BatchNormBackward
                .prepare::<C>([x.node(), gamma.node(), beta.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let state = BatchNormState {
                        x: x.primitive().clone(),
                        gamma: values(gamma.primitive()),
                        mean: values(mean.primitive()),
                        var: values(var.primitive()),
                        epsilon,
                        batch_stats,
                    };
                    prep.finish(state, y)
                }
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        }
    }

    /// Our max pooling and its tangent, stacked along the batch (`[2n, c, hout, wout]`, the
    /// pooled values first); the caller has checked [`crate::pool_supported`].
    pub fn max_pool2d_tangent(
        x: Tensor<4>,
        t: Tensor<4>,
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> Tensor<4> {
        Tensor::from_dispatch(<Dispatch as FlexConv>::flex_max_pool2d_tangent(
            x.into_dispatch(),
            t.into_dispatch(),
            kernel,
            stride,
        ))
    }

    /// Our average pooling; the caller has checked [`crate::avg_pool_supported`].
    pub fn avg_pool2d(x: Tensor<4>, kernel: [usize; 2], stride: [usize; 2]) -> Tensor<4> {
        Tensor::from_dispatch(<Dispatch as FlexConv>::flex_avg_pool2d(
            x.into_dispatch(),
            kernel,
            stride,
        ))
    }

    /// Our batch norm with the module's semantics; the caller has checked
    /// [`crate::batch_norm_supported`].
    pub fn batch_norm<const D: usize>(
        bn: &burn::nn::BatchNorm,
        x: Tensor<D>,
        training: bool,
    ) -> Tensor<D> {
        let device = x.device();
        let c = bn.gamma.dims()[0];
        let (mean, var) = if training {
            let stats: Tensor<2> = Tensor::from_dispatch(
                <Dispatch as FlexConv>::flex_channel_stats(x.clone().into_dispatch()),
            );
            let mean = stats.clone().slice([0..1, 0..c]).reshape([c]);
            let var = stats.slice([1..2, 0..c]).reshape([c]);
            // The running statistics as burn's module updates them.
            let momentum = bn.momentum;
            let running_mean = bn.running_mean.value_sync().to_device(&device);
            let running_var = bn.running_var.value_sync().to_device(&device);
            bn.running_mean.update(
                running_mean
                    .mul_scalar(1.0 - momentum)
                    .add(mean.clone().mul_scalar(momentum))
                    .detach(),
            );
            bn.running_var.update(
                running_var
                    .mul_scalar(1.0 - momentum)
                    .add(var.clone().mul_scalar(momentum))
                    .detach(),
            );
            (mean, var)
        } else {
            (
                bn.running_mean.value().to_device(&device),
                bn.running_var.value().to_device(&device),
            )
        };
        Tensor::from_dispatch(<Dispatch as FlexConv>::flex_batch_norm(
            x.into_dispatch(),
            bn.gamma.val().into_dispatch(),
            bn.beta.val().into_dispatch(),
            mean.into_dispatch(),
            var.into_dispatch(),
            bn.epsilon,
            training,
        ))
    }

    /// Our max pooling; the caller has checked [`crate::pool_supported`].
    pub fn max_pool2d(x: Tensor<4>, kernel: [usize; 2], stride: [usize; 2]) -> Tensor<4> {
        Tensor::from_dispatch(<Dispatch as FlexConv>::flex_max_pool2d(
            x.into_dispatch(),
            kernel,
            stride,
        ))
    }

    /// Our convolution; the caller has checked [`crate::supported`].
    pub fn conv2d(
        x: Tensor<4>,
        weight: Tensor<4>,
        bias: Option<Tensor<1>>,
        options: ConvOptions<2>,
    ) -> Tensor<4> {
        let cout = weight.dims()[0];
        // Without a bias, a constant zero one (no gradient is asked of it).
        let bias = bias.unwrap_or_else(|| Tensor::<1>::zeros([cout], &x.device()));
        let padding = [options.padding[0].0, options.padding[1].0];
        Tensor::from_dispatch(<Dispatch as FlexConv>::flex_conv2d(
            x.into_dispatch(),
            weight.into_dispatch(),
            bias.into_dispatch(),
            options.stride,
            padding,
        ))
    }
}
