//! `fidius-runner`: the small dedicated child of the process tier. A fidius
//! host starts it with a channel and a plugin library (descriptors named in
//! its environment); it is never run by hand. Any executable linking
//! fidius-host can also serve as its own runner; this binary keeps the child
//! small and free of the host's own start-up code.

#[cfg(target_os = "linux")]
fn main() {
    fidius_host::process::runner_main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the fidius process tier needs Linux");
    std::process::exit(64);
}
