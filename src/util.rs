//! Small helpers with no better home.

use std::time::{SystemTime, UNIX_EPOCH};

/// Lower-case hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// Parse exactly 64 hex digits.
pub fn unhex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// Now as RFC 3339 UTC with milliseconds, the form of `meta.created` (RFC 7643 §3.1).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_millisecond(now.millisecond()).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Hand the heap's free pages back to the OS. glibc's malloc keeps memory that was freed
/// for reuse, so after a large org unloads, the process would otherwise stay as large as
/// it was. Walks the heap: for rare events only (an org unloading).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only takes the allocator's own locks; no memory is passed.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Lower the calling thread's scheduling priority to `nice` (0 to 19; 0 changes nothing).
/// Threads it starts later inherit it, which is how sled's IO threads, started from the
/// threads that write, get it too. Raising a priority would need privileges; lowering one
/// never does. On Linux, `setpriority(PRIO_PROCESS, 0, ..)` acts on the calling thread.
pub fn lower_thread_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: a plain syscall on the calling thread; no memory is passed.
        let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice.min(19)) };
        if r != 0 {
            tracing::warn!(nice, error = %std::io::Error::last_os_error(), "could not lower thread priority");
        }
    }
}

/// Make the calling thread one of the write pipeline's (an org actor thread, the flusher):
/// lower its priority to `nice` and register it for [`set_pipeline_slice`]. Only for
/// threads that live as long as the process: a registered id must not be reused.
pub fn enter_write_pipeline(nice: i32) {
    lower_thread_priority(nice);
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no arguments and cannot fail.
        let tid = unsafe { libc::gettid() };
        PIPELINE_THREADS.lock().push(tid);
    }
}

/// The write pipeline's own threads (org actors, the flusher), by thread id.
#[cfg(target_os = "linux")]
static PIPELINE_THREADS: parking_lot::Mutex<Vec<libc::pid_t>> = parking_lot::Mutex::new(Vec::new());

/// Give the write pipeline's threads, sled's IO threads included, a short scheduler slice
/// (`short`) or the kernel's default. With a short slice (EEVDF's custom slice,
/// `sched_attr.sched_runtime`, Linux 6.12+; older kernels ignore it) a pipeline thread
/// that holds the core gives it back to a woken HTTP worker within `SHORT_SLICE`. That
/// bounds how long another org's request waits, but it costs throughput (more switches),
/// so it is on only while several orgs are active (see `actors::share`).
pub fn set_pipeline_slice(short: bool, nice: i32) {
    #[cfg(target_os = "linux")]
    {
        const SHORT_SLICE_NS: u64 = 300_000;
        #[repr(C)]
        struct SchedAttr {
            size: u32,
            policy: u32,
            flags: u64,
            nice: i32,
            priority: u32,
            runtime: u64,
            deadline: u64,
            period: u64,
        }
        let attr = SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            policy: libc::SCHED_OTHER as u32,
            flags: 0,
            nice: nice.clamp(0, 19),
            priority: 0,
            runtime: if short { SHORT_SLICE_NS } else { 0 },
            deadline: 0,
            period: 0,
        };
        let mut tids = PIPELINE_THREADS.lock().clone();
        // sled starts its IO threads itself; they are found by name.
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for t in tasks.flatten() {
                let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
                if comm.starts_with("sled-io") {
                    if let Some(tid) = t.file_name().to_str().and_then(|s| s.parse().ok()) {
                        tids.push(tid);
                    }
                }
            }
        }
        for tid in tids {
            // SAFETY: `attr` is a valid sched_attr of the size it declares.
            unsafe { libc::syscall(libc::SYS_sched_setattr, tid, &attr as *const SchedAttr, 0) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (short, nice);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let b: [u8; 32] = std::array::from_fn(|i| (i * 7) as u8);
        assert_eq!(unhex32(&hex(&b)), Some(b));
        assert_eq!(unhex32("zz"), None);
    }

    #[test]
    fn timestamps_are_rfc3339_millis() {
        let t = now_rfc3339();
        assert!(
            time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).is_ok()
        );
        assert!(t.ends_with('Z'));
    }
}
