import Glibc
import CalfControl
import CalfRuntime

/// The one node a data directory serves: an exclusive `flock` on
/// `DIR/node.lock`, taken before the node reads or writes anything there and
/// held for its life. The kernel drops it when the process ends, however it
/// ends (`kill -9` included), so it never needs cleaning up. Without it a
/// second node on a live directory would stop the first one's ports, append
/// to the same log with its own seqs and overwrite its snapshots before it
/// found the control socket taken.
///
/// Thread ownership: made and released by the node's owner; the descriptor
/// is only closed.
package final class DataDirectoryLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock of `directory` (which must exist).
    /// - Throws: `DurableError.dataDirectoryInUse` when another node holds it
    ///   (naming its pid), `DurableError.coding` when the file cannot be opened.
    package init(directory: String) throws(DurableError) {
        let path = directory + "/node.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw .dataDirectory("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        // A second is allowed for a holder that is just going (its last
        // descriptor may live on for a moment in a child another thread forked).
        var attempts = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            attempts += 1
            if code == EINTR { continue }
            guard code == EWOULDBLOCK, attempts < 100 else {
                let holder = code == EWOULDBLOCK ? Self.recordedPid(fd) : nil
                close(fd)
                if code != EWOULDBLOCK { throw .dataDirectory("cannot lock \(path): \(String(cString: strerror(code)))") }
                throw .dataDirectoryInUse(directory, by: holder)
            }
            usleep(10_000)
        }
        // The holder's pid, for the next one's error message.
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        descriptor = fd
    }

    /// Lets the directory go (the process ending does the same).
    package func release() { close(descriptor) }

    private static func recordedPid(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[..<count].prefix { $0 >= 0x30 && $0 <= 0x39 }, as: UTF8.self))
    }
}
