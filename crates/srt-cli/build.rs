include!("../../build/relr.rs");
