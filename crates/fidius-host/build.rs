//! With feature `python`, links test and example binaries of this crate with
//! an rpath to the libpython pyo3 built against (several interpreters may be
//! installed; without it the loader can pick another one at run time).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "python")]
    pyo3_build_config::add_libpython_rpath_link_args();
}
