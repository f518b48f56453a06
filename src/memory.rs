//! Resident memory of this process, from /proc (Linux); `None` elsewhere.

fn status_kib(key: &str) -> Option<u64> {
    status_kib_of("self", key)
}

fn status_kib_of(pid: &str, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Peak resident set size so far (VmHWM), MiB.
pub fn peak_rss_mib() -> Option<f64> {
    status_kib("VmHWM:").map(|k| k as f64 / 1024.0)
}

/// Current resident set size (VmRSS), MiB.
pub fn rss_mib() -> Option<f64> {
    status_kib("VmRSS:").map(|k| k as f64 / 1024.0)
}

/// Current resident set size of another process, MiB.
pub fn rss_mib_of(pid: u32) -> Option<f64> {
    status_kib_of(&pid.to_string(), "VmRSS:").map(|k| k as f64 / 1024.0)
}

/// (total, available) system memory, MiB.
pub fn system_mib() -> Option<(f64, f64)> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let get = |key: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|k| k / 1024.0)
    };
    Some((get("MemTotal:")?, get("MemAvailable:")?))
}
