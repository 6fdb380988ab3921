import CalfControl
import Foundation
import Testing

/// A thousand random and malformed requests on the HTTP API of a real node,
/// over raw sockets: each is answered 4xx (or, for bytes that are not HTTP
/// or a body cut short, the connection is closed), none changes anything,
/// and the node serves throughout.
@Suite(.serialized, .timeLimit(.minutes(5))) struct HTTPFuzzTests {
    /// A reproducible stream of choices (SplitMix64), so that a failure can be replayed by its seed.
    struct Choices: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// One malformed request: its bytes, whether the write side is closed
    /// after them (a body cut short), and whether closing without an answer is allowed.
    struct Attack {
        var kind: String
        var bytes: [UInt8]
        var closeWrite = false
        var mayCloseSilently = false
        /// The status it must get, if one in particular.
        var expected: Int?
    }

    static let routes = ["/v1/processes/teller/messages", "/v1/processes/account-3/messages", "/v1/processes/account-3/calls?timeoutMs=500"]

    static func attack(_ choices: inout Choices, token: String) -> Attack {
        func pick<T>(_ values: [T]) -> T { values[Int.random(in: 0..<values.count, using: &choices)] }
        func randomBytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &choices) } }
        func post(_ path: String, body: [UInt8], headers: [String] = [], auth: String? = "Bearer \(token)") -> [UInt8] {
            var head = "POST \(path) HTTP/1.1\r\nHost: calf\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n"
            if let auth { head += "Authorization: \(auth)\r\n" }
            for header in headers { head += header + "\r\n" }
            return Array((head + "\r\n").utf8) + body
        }
        let route = pick(routes)
        switch Int.random(in: 0..<9, using: &choices) {
        case 0:
            // Not JSON: random bytes, or JSON cut at a random point.
            let whole = Array(#"{"transfer":{"from":3,"to":7,"amount":25}}"#.utf8)
            let body = Bool.random(using: &choices) ? randomBytes(Int.random(in: 1...200, using: &choices)) : Array(whole.prefix(Int.random(in: 1..<whole.count, using: &choices)))
            return Attack(kind: "bad JSON", bytes: post(route, body: body))
        case 1:
            // JSON of the wrong shape or types for the behavior.
            let body = pick([
                #"{"transfer":{"from":"three","to":7,"amount":25}}"#, #"{"transfer":{"from":3}}"#, #"{"transfer":[]}"#,
                #"{"deposit":{"amount":-1.5e308}}"#, #"[1,2,3]"#, #"null"#, #""text""#, #"{}"#, #"{"nope":{}}"#,
                #"{"transfer":{"from":3,"to":7,"amount":1e999}}"#, #"{"balance":[]}"#, #"{"transfer":{"from":3,"to":7,"amount":9223372036854775808}}"#,
            ])
            return Attack(kind: "wrong type", bytes: post(route, body: Array(body.utf8)))
        case 2:
            // Nested deeper than anything takes.
            let depth = pick([600, 5_000, 100_000])
            let body = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            return Attack(kind: "deep nesting", bytes: post(route, body: Array(body.utf8)))
        case 3:
            // A header far larger than any server takes; closing is an answer too.
            let size = pick([20_000, 100_000, 300_000])
            let bytes = post(route, body: Array("{}".utf8), headers: ["X-Huge: " + String(repeating: "a", count: size)])
            return Attack(kind: "huge header", bytes: bytes, mayCloseSilently: true)
        case 4:
            // A body shorter than its Content-Length, then the end of the stream.
            var bytes = post(route, body: Array(#"{"transfer":{"from":3,"to":7,"amount":25}}"#.utf8))
            bytes.removeLast(Int.random(in: 1...20, using: &choices))
            return Attack(kind: "truncated body", bytes: bytes, closeWrite: true, mayCloseSilently: true, expected: 400)
        case 5:
            // A well-formed message with a wrong, missing or malformed token.
            let auth = pick(["Bearer " + String(token.reversed()), "Bearer", "Basic dXNlcjpwYXNz", "Bearer " + token + "x", "bearer\t" + token.uppercased(), String(token.prefix(10))])
            let body = Array(#"{"transfer":{"from":3,"to":7,"amount":25}}"#.utf8)
            return Attack(kind: "wrong token", bytes: post(route, body: body, auth: Bool.random(using: &choices) ? auth : nil))
        case 6:
            // Paths and queries that name nothing or are malformed.
            let path = pick([
                "/v1/processes/nobody/messages", "/v1/processes/%ZZ/messages", "/v1/processes/teller/calls?timeoutMs=-5",
                "/v1/processes/teller/calls?timeoutMs=1e9", "/v1/processes/teller/state?at=x", "/v1/processes/teller/journal?from=-1",
                "/v1/nothing", "/v1/processes/teller/messages/extra", "/v1/processes/%C3%28/messages",
            ])
            let method = pick(["GET", "POST", "DELETE", "PUT"])
            let request = "\(method) \(path) HTTP/1.1\r\nHost: calf\r\nConnection: close\r\nAuthorization: Bearer \(token)\r\nContent-Length: 2\r\n\r\n[]"
            return Attack(kind: "bad path", bytes: Array(request.utf8))
        case 7:
            // An Idempotency-Key on a message that is not one.
            let key = String(repeating: "k", count: pick([1, 1000, 8000]))
            return Attack(kind: "keyed bad message", bytes: post(route, body: Array(#"{"transfer":{"to":7}}"#.utf8), headers: ["Idempotency-Key: " + key]))
        default:
            // Not HTTP at all, or HTTP broken in its framing.
            let bytes = pick([
                randomBytes(Int.random(in: 1...300, using: &choices)),
                Array("POST /v1/processes/teller/messages HTTP/1.1\r\nContent-Length: abc\r\n\r\n{}".utf8),
                Array("POST /v1/processes/teller/messages HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".utf8),
                Array("GET / HTTP/9.9\r\n\r\n".utf8),
                Array("\r\n\r\n\r\n".utf8),
            ])
            return Attack(kind: "not HTTP", bytes: bytes, closeWrite: true, mayCloseSilently: true)
        }
    }

    /// Sends `attack` on a new loopback connection; returns the status line's code, or nil if closed without one.
    static func deliver(_ attack: Attack, port: Int) throws -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw NodeProcess.Failure(description: "cannot connect to port \(port)") }
        var offset = 0
        while offset < attack.bytes.count {
            let sent = attack.bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { break }  // the server closed it (a header too large): what it answered is read below
            offset += sent
        }
        if attack.closeWrite { shutdown(fd, Int32(SHUT_WR)) }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while answer.count < 12 || !answer.contains(UInt8(ascii: "\n")) {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EAGAIN { throw NodeProcess.Failure(description: "no answer within 20 s to \(attack.kind)") }
            if count <= 0 { break }
            answer += buffer[..<count]
        }
        let line = String(decoding: answer.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
        guard line.hasPrefix("HTTP/1.1 ") else { return nil }
        return Int(line.dropFirst(9).prefix(3))
    }

    @Test func aThousandMalformedRequestsAreRefusedAndChangeNothing() async throws {
        try await withTemporaryDataDirectory { dir in
            let node = try await NodeProcess(data: dir, tree: packageRoot.appendingPathComponent("Supervisors/bank.yaml").path,
                                             durability: "process", extra: ["--http", "127.0.0.1:0"])
            defer { _ = node.stop() }
            let base = try HTTPAPITests.baseURL(of: node)
            let port = try #require(Int(base.split(separator: ":").last ?? ""))
            let token = try String(contentsOfFile: dir + "/http.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)

            // What must not change: every account's balance, the teller's state and journal.
            func snapshot() async throws -> [String] {
                var parts: [String] = []
                for name in ["teller"] + (0..<16).map({ "account-\($0)" }) {
                    parts.append(try await HTTPAPITests.request("GET", base + "/v1/processes/\(name)/state", token: token).body)
                }
                parts.append(try await HTTPAPITests.request("GET", base + "/v1/processes/teller/journal?limit=100000", token: token).body)
                return parts
            }
            let before = try await snapshot()

            let seed = UInt64.random(in: 0...UInt64.max)
            var choices = Choices(state: seed)
            var answered: [String: [Int: Int]] = [:]
            for round in 0..<1000 {
                let attack = Self.attack(&choices, token: token)
                let status = try Self.deliver(attack, port: port)
                answered[attack.kind, default: [:]][status ?? 0, default: 0] += 1
                if let status, let expected = attack.expected {
                    #expect(status == expected, "seed \(seed), round \(round), \(attack.kind): \(status), not \(expected)")
                } else if let status {
                    #expect((400..<500).contains(status), "seed \(seed), round \(round), \(attack.kind): \(status) for \(String(decoding: attack.bytes.prefix(300), as: UTF8.self))")
                } else {
                    #expect(attack.mayCloseSilently, "seed \(seed), round \(round), \(attack.kind): closed without an answer")
                }
                if round % 100 == 99 {
                    #expect(try await HTTPAPITests.request("GET", base + "/healthz", token: nil).status == 200, "seed \(seed): not serving after round \(round)")
                }
            }
            print("HTTP fuzz, seed \(seed): \(answered.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.sorted { $0.key < $1.key })" }.joined(separator: "; "))")
            #expect(try await snapshot() == before, "seed \(seed): a malformed request changed something")
            // Still taking real mail.
            let sent = try await HTTPAPITests.request("POST", base + "/v1/processes/teller/messages", token: token, body: #"{"transfer":{"from":3,"to":7,"amount":25}}"#)
            #expect(sent.status == 202, "\(sent.body)")
        }
    }
}
