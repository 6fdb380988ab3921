import Glibc

/// The thread-local record of which `EventLoop` owns the calling thread.
///
/// glibc declares `pthread_self()` `const`, so comparisons against it can be
/// folded wrongly in release builds (see TRAPS.md); a thread-local slot set
/// when the loop thread starts is reliable.
enum CurrentLoop {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        // invariant: the process can always create one key at start; failure means the system is out of keys.
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    /// The loop running on this thread, if any.
    static var loop: EventLoop? {
        guard let raw = pthread_getspecific(key) else { return nil }
        return Unmanaged<EventLoop>.fromOpaque(raw).takeUnretainedValue()
    }

    static func set(_ loop: EventLoop?) {
        let raw = loop.map { UnsafeMutableRawPointer(Unmanaged.passUnretained($0).toOpaque()) }
        pthread_setspecific(key, raw)
    }
}
