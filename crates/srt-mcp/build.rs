include!("../../build/link.rs");
