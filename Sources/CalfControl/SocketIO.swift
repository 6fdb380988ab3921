import Glibc

/// Blocking reads and writes of whole frames on a socket descriptor.
package enum SocketIO {
    /// Writes all of `bytes`; false if the peer is gone.
    package static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }

    /// Reads exactly `count` bytes; nil at end of stream or on an error.
    package static func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let got = bytes.withUnsafeMutableBytes { buffer in
                recv(fd, buffer.baseAddress! + offset, count - offset, 0)
            }
            if got < 0, errno == EINTR { continue }
            if got <= 0 { return nil }
            offset += got
        }
        return bytes
    }

    package enum FrameError: Error { case closed, tooLarge(Int) }

    /// Reads one frame's body, refusing one over `maximum` bytes.
    package static func readFrame(_ fd: Int32, maximum: Int = ControlProtocol.maximumFrame) throws(FrameError) -> [UInt8] {
        guard let header = readExactly(fd, 4) else { throw .closed }
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard length <= maximum else { throw .tooLarge(length) }
        guard let body = readExactly(fd, length) else { throw .closed }
        return body
    }

    /// A `sockaddr_un` for `path`, or nil if the path is too long.
    package static func address(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// Connects to the Unix socket at `path`; the descriptor, or errno.
    package static func connect(to path: String) -> Result<Int32, Errno> {
        guard var address = address(path) else { return .failure(Errno(ENAMETOOLONG)) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .failure(Errno(errno)) }
        let code = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if code != 0 {
            let failure = errno
            close(fd)
            return .failure(Errno(failure))
        }
        return .success(fd)
    }
}

/// An errno value with its text.
public struct Errno: Error, CustomStringConvertible, Sendable {
    /// The value.
    public let code: Int32
    package init(_ code: Int32) { self.code = code }
    public var description: String { String(cString: strerror(code)) }
}
