import Glibc

/// Starts detached pthreads for the few long-lived loops (transfer engine, extractors, log pumps).
///
/// FoundationEssentials has no `Thread`; Swift concurrency's cooperative pool is the wrong place
/// for loops that block in `poll` or in libarchive's read callback.
///
/// Each thread starts with every signal blocked: the roles take their signals through a
/// signalfd (`SignalChannel`), which works only if no thread leaves them deliverable, and a
/// thread started before the channel exists (a log writer) would otherwise catch SIGTERM and let
/// its default action end the process.
public enum ThreadStarter {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    public static func detach(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        pthread_attr_setstacksize(&attributes, 1 << 20)
        var all = sigset_t(), previous = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_BLOCK, &all, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        let rc = pthread_create(&thread, &attributes, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        pthread_attr_destroy(&attributes)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }
}
