import Foundation
import Glibc
import Testing
@testable import CalfGraphs

/// A daemon's readiness tries against real sockets on loopback: a TCP
/// connect, an HTTP GET, a line pattern.
@Suite struct ReadinessProbeTests {
    /// A listening socket on 127.0.0.1 with a port of the kernel's choice.
    final class Listener: @unchecked Sendable {
        let descriptor: Int32
        let port: Int

        init() throws {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            self.descriptor = descriptor
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
            var size = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, size) == 0 && getsockname(descriptor, $0, &size) == 0 }
            }
            guard bound, listen(descriptor, 8) == 0 else {
                port = 0
                throw POSIXError(.EADDRINUSE)
            }
            port = Int(UInt16(bigEndian: address.sin_port))
        }

        /// Answers each connection with `status` and closes it (on a thread of its own).
        func serveHTTP(status: String) {
            let descriptor = descriptor
            Thread.detachNewThread {
                while true {
                    let connection = accept(descriptor, nil, nil)
                    guard connection >= 0 else { return }
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    _ = buffer.withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
                    let answer = Array("HTTP/1.1 \(status)\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".utf8)
                    _ = answer.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
                    Glibc.close(connection)
                }
            }
        }

        func close() { shutdown(descriptor, Int32(SHUT_RDWR)); Glibc.close(descriptor) }
    }

    @Test func aTCPTryPassesOnlyWhileSomethingListens() throws {
        let listener = try Listener()
        #expect(ReadinessCheck.connects(port: listener.port))
        listener.close()
        #expect(!ReadinessCheck.connects(port: listener.port), "a closed port counted as ready")
    }

    @Test func anHTTPTryPassesOnA2xxAndSaysWhatItGotOtherwise() async throws {
        let healthy = try Listener()
        defer { healthy.close() }
        healthy.serveHTTP(status: "200 OK")
        let good = await ReadinessCheck.get("http://127.0.0.1:\(healthy.port)/health", timeout: 2000)
        #expect(good.status == 200)

        let starting = try Listener()
        defer { starting.close() }
        starting.serveHTTP(status: "503 Service Unavailable")
        let bad = await ReadinessCheck.get("http://127.0.0.1:\(starting.port)/health", timeout: 2000)
        #expect(bad.status == 503 && bad.why.contains("503"), "\(bad)")

        let closed = try Listener()
        let port = closed.port
        closed.close()
        let none = await ReadinessCheck.get("http://127.0.0.1:\(port)/health", timeout: 2000)
        #expect(none.status == nil && none.why.contains("failed"), "\(none)")
    }

    @Test func aLinePatternIsARegularExpressionOrElsePlainText() {
        let anchored = ReadinessCheck.matcher("^listening on [0-9]+$")
        #expect(anchored("listening on 8080"))
        #expect(!anchored("not listening on 8080"))
        let plain = ReadinessCheck.matcher("ready (")
        #expect(plain("server ready (pid 4)"), "a pattern that is not a regular expression did not match as text")
    }
}
