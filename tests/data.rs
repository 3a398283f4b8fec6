//! Data: the bundled mnist-10k, Fashion-MNIST from the Debian package, CIFAR files in the
//! official layout, the search order, and the errors for bad files.

use std::io::Read;
use std::path::{Path, PathBuf};

use infoplane::data::cifar::{CIFAR_PIXELS, encode_cifar10, encode_cifar100};
use infoplane::data::idx::{encode_images, encode_labels};
use infoplane::data::{
    Augment, BatchPlan, DataError, DatasetName, Locator, Pipeline, Pixels, epoch_batches, load,
    load_from_dir,
};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The bundled mnist-10k, read from the checkout.
pub fn mnist_10k() -> infoplane::data::Dataset {
    load(
        DatasetName::Mnist10k,
        &only(&repo().join("datasets/mnist-10k")),
    )
    .unwrap()
}

fn only(dir: &Path) -> Locator {
    Locator {
        data_dir: Some(dir.to_path_buf()),
        ..Default::default()
    }
}

#[test]
fn mnist_10k_counts_classes_and_bytes() {
    let dir = repo().join("datasets/mnist-10k");
    let d = load(DatasetName::Mnist10k, &only(&dir)).unwrap();
    assert_eq!((d.train.len(), d.test.len()), (8004, 1996));
    assert_eq!(d.train.shape, [1, 28, 28]);
    // Per-class totals from datasets/mnist-10k/README.md; every 5th sample of a class is test.
    let totals = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
    let test: Vec<usize> = totals.iter().map(|t| t / 5).collect();
    let train: Vec<usize> = totals.iter().zip(&test).map(|(a, b)| a - b).collect();
    assert_eq!(d.test.class_histogram(10), test);
    assert_eq!(d.train.class_histogram(10), train);
    let raw = gunzip(&dir.join("train-images-idx3-ubyte.gz"));
    match &d.train.pixels {
        Pixels::U8(p) => assert_eq!(p[..], raw[16..]),
        _ => panic!("images are bytes"),
    }
    let labels = gunzip(&dir.join("t10k-labels-idx1-ubyte.gz"));
    assert_eq!(d.test.labels[..], labels[8..]);
}

#[test]
fn fashion_mnist_from_the_debian_package() {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    if !dir.join("train-images-idx3-ubyte.gz").exists() {
        // .ci/run installs the package and sets this variable: there, absence is a failure.
        assert!(
            std::env::var_os("INFOPLANE_REQUIRE_FASHION_MNIST").is_none(),
            "INFOPLANE_REQUIRE_FASHION_MNIST is set but {} holds no Fashion-MNIST (apt-get install dataset-fashion-mnist)",
            dir.display()
        );
        eprintln!("skipped: dataset-fashion-mnist is not installed (.ci/run installs it)");
        return;
    }
    let loc = Locator {
        system: true,
        ..Default::default()
    };
    let d = load(DatasetName::FashionMnist, &loc).unwrap();
    assert_eq!((d.train.len(), d.test.len()), (60_000, 10_000));
    assert_eq!(d.train.class_histogram(10), vec![6000; 10]);
    assert_eq!(d.test.class_histogram(10), vec![1000; 10]);
    assert_eq!(d.source, infoplane::data::Source::Dir(dir.to_path_buf()));
}

fn pixels(n: usize, salt: u8) -> Vec<u8> {
    (0..n * CIFAR_PIXELS)
        .map(|i| ((i * 31 + salt as usize) % 251) as u8)
        .collect()
}

#[test]
fn cifar10_official_layout_reads_back_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    // The official archive unpacks into cifar-10-batches-bin/: the locator accepts it.
    let dir = tmp.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&dir).unwrap();
    let mut all_labels = Vec::new();
    let mut all_pixels = Vec::new();
    for b in 1..=5 {
        let labels: Vec<u8> = (0..3).map(|i| ((b * 3 + i) % 10) as u8).collect();
        let px = pixels(3, b as u8);
        std::fs::write(
            dir.join(format!("data_batch_{b}.bin")),
            encode_cifar10(&labels, &px),
        )
        .unwrap();
        all_labels.extend(labels);
        all_pixels.extend(px);
    }
    let px = pixels(2, 99);
    std::fs::write(dir.join("test_batch.bin"), encode_cifar10(&[7, 3], &px)).unwrap();
    let d = load(DatasetName::Cifar10, &only(tmp.path())).unwrap();
    assert_eq!(d.train.len(), 15);
    assert_eq!(d.train.labels, all_labels);
    assert_eq!(d.train.pixels, Pixels::U8(all_pixels.clone()));
    assert_eq!(d.test.labels, vec![7, 3]);
    // Channel-major: green plane of sample 0 starts at byte 1024 of its record.
    let mut v = Vec::new();
    d.train.pixels.to_f32(0..CIFAR_PIXELS, &mut v);
    assert_eq!(v[1024], all_pixels[1024] as f32 / 255.0);
    assert_eq!(d.train.shape, [3, 32, 32]);
}

#[test]
fn cifar100_coarse_and_fine_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let px = pixels(4, 5);
    std::fs::write(
        tmp.path().join("train.bin"),
        encode_cifar100(&[1, 19, 0, 7], &[11, 99, 0, 42], &px),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("test.bin"),
        encode_cifar100(&[3], &[55], &pixels(1, 6)),
    )
    .unwrap();
    let d = load_from_dir(DatasetName::Cifar100, tmp.path()).unwrap();
    assert_eq!(d.train.labels, vec![11, 99, 0, 42]);
    assert_eq!(d.train.coarse_labels, vec![1, 19, 0, 7]);
    assert_eq!(d.train.pixels, Pixels::U8(px));
    assert_eq!(d.num_classes, 100);
    assert_eq!(d.test.labels, vec![55]);
}

fn write_idx_dir(dir: &Path, n_img: usize, n_lab: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let px: Vec<u8> = (0..n_img * 4).map(|i| i as u8).collect();
    for split in ["train", "t10k"] {
        std::fs::write(
            dir.join(format!("{split}-images-idx3-ubyte")),
            encode_images(n_img, 2, 2, &px),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{split}-labels-idx1-ubyte")),
            encode_labels(&vec![1; n_lab]),
        )
        .unwrap();
    }
}

#[test]
fn bad_files_give_typed_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    // Image/label count mismatch.
    let d1 = tmp.path().join("mismatch");
    write_idx_dir(&d1, 3, 2);
    match load_from_dir(DatasetName::Mnist, &d1).unwrap_err() {
        DataError::CountMismatch {
            n_images: 3,
            n_labels: 2,
            images,
            ..
        } => assert!(images.ends_with("train-images-idx3-ubyte")),
        e => panic!("{e}"),
    }
    // Truncated image file.
    let d2 = tmp.path().join("truncated");
    write_idx_dir(&d2, 3, 3);
    let f = d2.join("train-images-idx3-ubyte");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 5]).unwrap();
    let e = load_from_dir(DatasetName::Mnist, &d2).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::Truncated {
                expected: 12,
                found: 7,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("train-images-idx3-ubyte"), "{e}");
    // Wrong magic: labels where images belong.
    let d3 = tmp.path().join("magic");
    write_idx_dir(&d3, 3, 3);
    std::fs::copy(
        d3.join("train-labels-idx1-ubyte"),
        d3.join("train-images-idx3-ubyte"),
    )
    .unwrap();
    let e = load_from_dir(DatasetName::Mnist, &d3).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::BadMagic {
                expected: 0x803,
                found: 0x801,
                ..
            }
        ),
        "{e}"
    );
    // A CIFAR file whose size is not a multiple of the record.
    let d4 = tmp.path().join("cifar");
    std::fs::create_dir(&d4).unwrap();
    std::fs::write(d4.join("train.bin"), vec![0u8; 3074 * 2 + 10]).unwrap();
    std::fs::write(d4.join("test.bin"), vec![0u8; 3074]).unwrap();
    let e = load_from_dir(DatasetName::Cifar100, &d4).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::RecordSize {
                record: 3074,
                size: 6158,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("train.bin"));
    // Wrong layout: a directory with other files.
    let d5 = tmp.path().join("layout");
    std::fs::create_dir(&d5).unwrap();
    std::fs::write(d5.join("readme.txt"), "x").unwrap();
    let e = load(DatasetName::Cifar10, &only(&d5)).unwrap_err();
    match &e {
        DataError::MissingFile { file, .. } => assert_eq!(file, "data_batch_1.bin"),
        e => panic!("{e}"),
    }
    assert!(
        e.to_string().contains("cargo xtask data fetch cifar10"),
        "{e}"
    );
    // Images of 0x28 pixels: a header describing no data is refused, not loaded.
    let d6 = tmp.path().join("zero");
    write_idx_dir(&d6, 3, 3);
    std::fs::write(
        d6.join("train-images-idx3-ubyte"),
        encode_images(10, 0, 28, &[]),
    )
    .unwrap();
    let e = load_from_dir(DatasetName::Mnist, &d6).unwrap_err();
    assert!(matches!(e, DataError::BadHeader { .. }), "{e}");
    assert!(
        e.to_string().contains("train-images-idx3-ubyte") && e.to_string().contains("0x28"),
        "{e}"
    );
    // Sizes that overflow 64 bits are refused before anything is allocated.
    let mut huge = encode_images(1, 1, 1, &[0]);
    huge[4..16].copy_from_slice(&[0xff; 12]);
    std::fs::write(d6.join("train-images-idx3-ubyte"), &huge).unwrap();
    let e = load_from_dir(DatasetName::Mnist, &d6).unwrap_err();
    assert!(e.to_string().contains("overflow"), "{e}");
    // Missing directory.
    let e = load(DatasetName::Mnist, &only(&tmp.path().join("nope"))).unwrap_err();
    assert!(matches!(e, DataError::NotFound { .. }), "{e}");
    // Nothing found anywhere: the error lists where it looked and how to get the data.
    let loc = Locator {
        env_root: Some(tmp.path().join("env")),
        repo_roots: vec![tmp.path().to_path_buf()],
        ..Default::default()
    };
    let e = load(DatasetName::Cifar100, &loc).unwrap_err().to_string();
    assert!(
        e.contains("env/cifar100") && e.contains("xtask data fetch cifar100"),
        "{e}"
    );
}

#[test]
fn search_order_prefers_env_then_repo() {
    let tmp = tempfile::tempdir().unwrap();
    write_idx_dir(&tmp.path().join("env/mnist"), 2, 2);
    write_idx_dir(&tmp.path().join("repo/datasets/mnist"), 3, 3);
    let loc = Locator {
        env_root: Some(tmp.path().join("env")),
        repo_roots: vec![tmp.path().join("repo")],
        ..Default::default()
    };
    assert_eq!(
        loc.locate(DatasetName::Mnist).unwrap(),
        tmp.path().join("env/mnist")
    );
    let loc = Locator {
        env_root: Some(tmp.path().join("nothing")),
        ..loc
    };
    assert_eq!(
        loc.locate(DatasetName::Mnist).unwrap(),
        tmp.path().join("repo/datasets/mnist")
    );
    assert_eq!(load(DatasetName::Mnist, &loc).unwrap().train.len(), 3);
}

#[test]
fn seeded_batches_with_augmentation_repeat() {
    let d = mnist_10k();
    let small = d.train.subset(300, 1);
    assert_eq!(small.len(), 300);
    assert_eq!(small, d.train.subset(300, 1));
    let p = Pipeline {
        pad_to: Some(32),
        normalize: infoplane::data::Normalization::for_dataset(DatasetName::Mnist10k),
        augment: Augment::CropFlip(4),
    };
    let plan = BatchPlan {
        batch_size: 64,
        shuffle: true,
        drop_last: false,
        seed: 9,
    };
    let a: Vec<_> = epoch_batches(&small, &p, &plan, 1).collect();
    let b: Vec<_> = epoch_batches(&small, &p, &plan, 1).collect();
    assert_eq!(a, b);
    assert_eq!(a[0].shape, [64, 1, 32, 32]);
    let other = BatchPlan { seed: 10, ..plan };
    assert_ne!(a, epoch_batches(&small, &p, &other, 1).collect::<Vec<_>>());
}

#[test]
fn rings_are_generated() {
    let d = load(DatasetName::Rings, &Locator::default()).unwrap();
    assert_eq!(d.train.shape, [1, 1, 2]);
    assert_eq!(d.num_classes, 2);
    assert_eq!(d.train.class_histogram(2), vec![2048, 2048]);
}

#[test]
fn splits_serve_burns_dataset_trait() {
    use burn::data::dataset::Dataset;
    let d = mnist_10k();
    let p = Pipeline {
        pad_to: Some(32),
        normalize: None,
        augment: Augment::CropFlip(4),
    };
    let ds = infoplane::data::burn_dataset::SplitDataset::new(d.test.clone(), p);
    assert_eq!(ds.len(), 1996);
    let item = ds.get(7).unwrap();
    assert_eq!(item.shape, [1, 32, 32]);
    assert_eq!(item.label, d.test.labels[7]);
    // No augmentation through this path: the padded image is the original, centred.
    let mut raw = Vec::new();
    d.test.pixels.to_f32(7 * 784..8 * 784, &mut raw);
    assert_eq!(item.image[2 * 32 + 2..2 * 32 + 30], raw[..28]);
    assert!(ds.get(5000).is_err());
}
