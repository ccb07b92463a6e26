import Glibc

/// Monotonic seconds for deadlines, and wall-clock time for log stamps.
public enum Clock {
    public static var now: Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Wall-clock seconds since the epoch, as one number (for records and metrics).
    public static var epochSeconds: Double {
        let now = wall
        return Double(now.seconds) + Double(now.nanoseconds) / 1e9
    }

    /// Wall-clock seconds and nanoseconds since the epoch.
    public static var wall: (seconds: Int, nanoseconds: Int) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return (ts.tv_sec, ts.tv_nsec)
    }
}
