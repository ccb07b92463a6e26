import Glibc

/// The port of the task's rsync daemon (the reference's `common.RsyncPort`): the wrapper listens
/// on it and ctrl connects to it for every rsync connection, whatever port the action names.
///
/// `OSMO_RSYNC_PORT` moves it (tests run several pods on one machine, where every pod shares
/// the loopback interface); both containers read the same variable, so they always agree.
public enum RsyncPort {
    public static let standard = 16000
    public static let environmentKey = "OSMO_RSYNC_PORT"

    public static var current: Int {
        guard let raw = getenv(environmentKey), let port = Int(String(cString: raw)), (1...65535).contains(port) else { return standard }
        return port
    }
}
