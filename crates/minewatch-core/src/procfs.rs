//! A process's CPU time and resident memory from `/proc` (Linux), without libc: `unsafe` is
//! forbidden in this workspace, so `getrusage` is out of reach. Elsewhere every reading is `None`.

/// Clock ticks per second of `/proc/*/stat` times: USER_HZ, fixed at 100 in Linux's user ABI.
const USER_HZ: f64 = 100.0;

/// User + system CPU seconds of `pid` (this process when `None`); `None` when unreadable
/// (not Linux, or no such process). Resolution 10 ms.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    parse_stat(&text)
}

/// utime + stime (fields 14 and 15) of a stat line; the command name in parentheses may itself
/// contain spaces or parentheses, so fields are counted after the last `)`.
fn parse_stat(text: &str) -> Option<f64> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After ')' comes field 3 (state); utime is field 14, i.e. the 12th from here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// Resident memory in bytes (`VmRSS` of `/proc/<pid>/status`) of `pid` (this process when
/// `None`); `None` when unreadable.
pub fn resident_bytes(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    parse_vm_rss(&std::fs::read_to_string(path).ok()?)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// This process's soft limit on open file descriptors (`Max open files` of `/proc/self/limits`);
/// `None` when unreadable or unlimited.
pub fn open_files_limit() -> Option<u64> {
    parse_open_files(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

fn parse_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU cores available to this process.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_and_stime_are_read_after_the_command_name() {
        let line = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0";
        assert_eq!(parse_stat(line), Some(3.0));
    }

    #[test]
    fn resident_memory_is_read_in_kilobytes() {
        let status = "Name:\tminewatch\nVmPeak:\t  900 kB\nVmRSS:\t  641024 kB\nRssAnon:\t 1 kB\n";
        assert_eq!(parse_vm_rss(status), Some(641_024 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        if cfg!(target_os = "linux") {
            assert!(resident_bytes(Some(std::process::id())).is_some_and(|b| b > 0));
            assert!(resident_bytes(None).is_some_and(|b| b > 0));
        }
    }

    #[test]
    fn the_open_files_limit_is_the_soft_one() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \nMax processes             63704                63704                processes \nMax open files            1024                 524288               files     \n";
        assert_eq!(parse_open_files(limits), Some(1024));
        assert_eq!(
            parse_open_files("Max open files  unlimited  unlimited  files\n"),
            None
        );
        if cfg!(target_os = "linux") {
            assert!(open_files_limit().is_some_and(|n| n > 0));
        }
    }

    #[test]
    fn this_process_has_a_cpu_time() {
        if cfg!(target_os = "linux") {
            assert!(cpu_seconds(None).is_some());
        }
    }
}
