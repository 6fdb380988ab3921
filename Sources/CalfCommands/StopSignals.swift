import Foundation
import Glibc

/// SIGTERM and SIGINT, turned into something a task can wait for: a
/// signal handler writes the signal's number to a pipe (the one
/// async-signal-safe thing it does) and a thread reads it.
enum StopSignals {
    // invariant: written once by `install()` before the handler can run, read-only afterwards.
    nonisolated(unsafe) private static var pipeFDs: (read: Int32, write: Int32) = (-1, -1)

    /// Installs the handlers (call once, early).
    static func install() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        pipeFDs = (fds[0], fds[1])
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { number in
            var byte = UInt8(truncatingIfNeeded: number)
            _ = write(StopSignals.pipeFDs.write, &byte, 1)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for number in [SIGTERM, SIGINT] {
            sigaction(number, &action, nil)
            sigaddset(&unblock, number)
        }
        // A parent may have started us with them blocked: this thread takes them.
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    }

    /// Waits for the first SIGTERM or SIGINT; returns its number.
    static func next() async -> Int32 {
        let fd = pipeFDs.read
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var byte: UInt8 = 0
                while read(fd, &byte, 1) < 0 && errno == EINTR {}
                continuation.resume(returning: Int32(byte))
            }
        }
    }
}
