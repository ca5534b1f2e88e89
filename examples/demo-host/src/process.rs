//! Part 5 of the demo: plugins in a killable child process. A runaway call
//! is stopped by its deadline, a crashing plugin is restarted, and the host
//! keeps serving throughout.

use fidius::process::{Isolation, ProcessOptions};
use fidius::{CallError, PluginHost};
use std::path::Path;
use std::time::{Duration, Instant};
use unruly_plugin::UnrulyClient;

/// `demo-host process <dir> <libunruly_plugin.so>`
pub fn run(dir: &Path, lib: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let name = lib.file_name().ok_or("library path has no file name")?;
    std::fs::copy(lib, dir.join(name))?;
    let deadline = Duration::from_millis(300);
    let host = PluginHost::builder()
        .search_path(dir)
        .isolation(Isolation::Process)
        .process_options(ProcessOptions::default().deadline(deadline))
        .build()?;
    println!(
        "\n[1] load `Wild` (tests/unruly-plugin) with Isolation::Process, deadline {deadline:?}"
    );
    let t = Instant::now();
    let wild = UnrulyClient::load(&host, "Wild")?;
    println!(
        "    loaded in {:.1?}: the host (pid {}) runs it in child pid {}",
        t.elapsed(),
        std::process::id(),
        wild.pid()?
    );
    println!("    add(40, 2) -> {}", wild.add(&40, &2)?);

    println!("\n[2] a runaway call: sleep_ms(60000)");
    let before = wild.pid()?;
    let t = Instant::now();
    match wild.sleep_ms(&60_000) {
        Err(e @ CallError::Timeout { .. }) => {
            println!(
                "    -> {e} after {:.1?}; child {before} was killed",
                t.elapsed()
            )
        }
        other => return Err(format!("expected a timeout, got {other:?}").into()),
    }
    println!(
        "    the next call runs in a fresh child: add(1, 2) -> {} (pid {})",
        wild.add(&1, &2)?,
        wild.pid()?
    );

    println!("\n[3] a crashing plugin: segfault()");
    let t = Instant::now();
    match wild.segfault() {
        Err(e @ CallError::ProcessDied { .. }) => println!("    -> {e}"),
        other => return Err(format!("expected a dead child, got {other:?}").into()),
    }
    let sum = wild.add(&2, &3)?;
    println!(
        "    restarted and served again: add(2, 3) -> {sum} (pid {}), {:.1?} from the call that crashed to this answer",
        wild.pid()?,
        t.elapsed()
    );
    match wild.exit(&7) {
        Err(e) => println!("    exit(7) -> {e}"),
        Ok(_) => return Err("exit(7) returned".into()),
    }

    println!("\n[4] cancel a call from another thread");
    let cancel = wild.handle().cancel_handle().ok_or("no cancel handle")?;
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        cancel.cancel();
    });
    let r = fidius::with_deadline(Duration::from_secs(30), || wild.sleep_ms(&60_000));
    canceller.join().map_err(|_| "canceller panicked")?;
    println!(
        "    sleep_ms(60000) with a 30 s per-call deadline, cancelled after 100 ms -> {}",
        r.err().map(|e| e.to_string()).unwrap_or_default()
    );
    println!(
        "    and still serving: add(20, 22) -> {}",
        wild.add(&20, &22)?
    );
    Ok(())
}
