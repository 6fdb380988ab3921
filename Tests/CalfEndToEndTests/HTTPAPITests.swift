import CalfControl
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The node's HTTP API through the real binary, over a real socket on
/// loopback: the bearer token, each route's answer and its errors, and a
/// message answered 202 that is kept across `kill -9` and taken once.
@Suite(.serialized, .timeLimit(.minutes(3))) struct HTTPAPITests {
    let tree = packageRoot.appendingPathComponent("Supervisors/bank.yaml").path

    /// One answer: status, body, headers.
    struct Answer {
        var status: Int
        var body: String
        var headers: [String: String]
        var json: JSONValue? { try? JSONValue(parsing: body) }
    }

    static func request(_ method: String, _ url: String, token: String?, body: String? = nil, headers: [String: String] = [:]) async throws -> Answer {
        var request = URLRequest(url: try #require(URL(string: url)))
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let body { request.httpBody = Data(body.utf8) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields { fields[String(describing: name).lowercased()] = String(describing: value) }
        return Answer(status: http.statusCode, body: String(decoding: data, as: UTF8.self), headers: fields)
    }

    /// Sends `text` as it is on a new connection to the loopback `port`; returns all the answer.
    static func rawRequest(port: Int, _ text: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw NodeProcess.Failure(description: "cannot connect to port \(port)") }
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            answer += buffer[..<count]
        }
        return String(decoding: answer, as: UTF8.self)
    }

    /// The API's base URL from the node's ready line.
    static func baseURL(of node: NodeProcess) throws -> String {
        let output = node.output.withLock { $0 }
        let start = try #require(output.range(of: " http=")).upperBound
        return String(output[start...].prefix { !$0.isWhitespace })
    }

    @Test func theAPIAnswersAsTheShellDoesAndAnAcceptedMessageSurvivesKill9() async throws {
        try await withTemporaryDataDirectory { dir in
            let options = ["--http", "127.0.0.1:0"]
            var node = try await NodeProcess(data: dir, tree: tree, durability: "process", extra: options)
            var base = try Self.baseURL(of: node)
            #expect(base.hasPrefix("http://127.0.0.1:") && !base.hasSuffix(":0"))
            // The token: made at first start, 32 random bytes as hex, owner only.
            let token = try String(contentsOfFile: dir + "/http.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(token.count == 64 && token.allSatisfy(\.isHexDigit))
            let mode = try FileManager.default.attributesOfItem(atPath: dir + "/http.token")[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)

            #expect(try await Self.request("GET", base + "/healthz", token: nil).status == 200)
            let refused = try await Self.request("GET", base + "/v1/processes", token: nil)
            #expect(refused.status == 401 && refused.json?["error"]?["code"] == "unauthorized")
            #expect(try await Self.request("GET", base + "/v1/processes", token: String(repeating: "0", count: 64)).status == 401)

            let transfer = #"{"transfer":{"from":3,"to":7,"amount":25}}"#
            let sent = try await Self.request("POST", base + "/v1/processes/teller/messages", token: token, body: transfer, headers: ["Idempotency-Key": "t-1"])
            #expect(sent.status == 202, "\(sent.body)")
            let seq = try #require(sent.json?["seq"])
            let again = try await Self.request("POST", base + "/v1/processes/teller/messages", token: token, body: transfer, headers: ["Idempotency-Key": "t-1"])
            #expect(again.status == 200 && again.json == ["duplicate": true, "seq": seq])
            #expect(await eventually { (try? await Self.request("GET", base + "/v1/processes/account-7/state", token: token).body) == #"{"balance":1025}"# })
            let call = try await Self.request("POST", base + "/v1/processes/account-3/calls?timeoutMs=2000", token: token, body: #"{"balance":{}}"#)
            #expect(call.status == 200 && call.body == "975")

            let ps = try await Self.request("GET", base + "/v1/processes", token: token)
            let reports = try JSONDecoder().decode([ProcessReport].self, from: Data(ps.body.utf8))
            #expect(ps.status == 200 && reports.contains { $0.name == "teller" })
            let info = try await Self.request("GET", base + "/v1/processes/teller", token: token)
            #expect(info.status == 200 && info.json?["name"] == "teller")
            // The node's figures in Prometheus's text format, behind the token.
            #expect(try await Self.request("GET", base + "/metrics", token: nil).status == 401)
            #expect(await eventually {
                let metrics = try? await Self.request("GET", base + "/metrics", token: token)
                return metrics?.status == 200 && metrics!.body.contains("calf_log_commits") && metrics!.body.contains("calf_scheduler_processes")
            })
            let journal = try await Self.request("GET", base + "/v1/processes/teller/journal?limit=50", token: token)
            let kinds = (try JSONDecoder().decode([JournalEntry].self, from: Data(journal.body.utf8))).map(\.kind)
            #expect(journal.status == 200 && kinds.contains("accepted") && kinds.contains("handled"))

            // Bad input: clear errors, never a 500.
            let badMessage = try await Self.request("POST", base + "/v1/processes/teller/messages", token: token, body: #"{"transfer":{"from":3}}"#)
            #expect(badMessage.status == 400 && badMessage.json?["error"]?["code"] == "bad_message" && badMessage.body.contains("not a message of Teller"))
            let notJSON = try await Self.request("POST", base + "/v1/processes/teller/messages", token: token, body: "{transfer")
            #expect(notJSON.status == 400 && notJSON.json?["error"]?["code"] == "bad_json")
            let unknown = try await Self.request("GET", base + "/v1/processes/nobody/state", token: token)
            #expect(unknown.status == 404 && unknown.json?["error"]?["code"] == "no_process")
            let badQuery = try await Self.request("GET", base + "/v1/processes/teller/journal?limit=many", token: token)
            #expect(badQuery.status == 400 && badQuery.body.contains("limit"))
            // A key too long to keep is refused before anything is written (a longer one once broke the next checkpoint round).
            let longKey = try await Self.request("POST", base + "/v1/processes/teller/messages", token: token, body: transfer, headers: ["Idempotency-Key": String(repeating: "k", count: 256)])
            #expect(longKey.status == 400 && longKey.body.contains("at most 255 bytes"), "\(longKey.body)")
            let longestKey = try await Self.request("POST", base + "/v1/processes/teller/messages", token: token, body: transfer, headers: ["Idempotency-Key": String(repeating: "k", count: 255)])
            #expect(longestKey.status == 202, "\(longestKey.body)")
            let tooLarge = try await Self.request("POST", base + "/v1/processes/teller/messages", token: token, body: String(repeating: " ", count: (1 << 20) + 1))
            #expect(tooLarge.status == 413 && tooLarge.json?["error"]?["code"] == "too_large")

            // The shell's stats show where the API listens and what it answered
            // (nineteen or more requests; three 401s, four 400s, a 404 and a 413; no 5xx).
            let (status, stats, errors) = try await runShell(dir, ["stats"])
            #expect(status == 0, "\(errors)")
            let line = try #require(stats.split(separator: "\n").first { $0.hasPrefix("http: ") }, "\(stats)")
            #expect(line.hasPrefix("http: \(base), "), "\(line)")
            let match = try #require(line.firstMatch(of: /(\d+) requests \((\d+) 4xx, (\d+) 5xx\), (\d+) in flight/), "\(line)")
            // This stats request is no HTTP one: nothing in flight.
            #expect(Int(match.1)! >= 19 && match.2 == "9" && match.3 == "0" && match.4 == "0", "\(line)")

            // Answered 202, then kill -9: the restarted node (same token) has it, once.
            let second = try await Self.request("POST", base + "/v1/processes/teller/messages", token: token, body: transfer, headers: ["Idempotency-Key": "t-2"])
            #expect(second.status == 202)
            await node.killHard()
            node = try await NodeProcess(data: dir, tree: tree, durability: "process", extra: options)
            defer { _ = node.stop() }
            base = try Self.baseURL(of: node)
            let resent = try await Self.request("POST", base + "/v1/processes/teller/messages", token: token, body: transfer, headers: ["Idempotency-Key": "t-2"])
            #expect(resent.status == 200 && resent.json?["duplicate"] == true)
            #expect(await eventually { (try? await Self.request("GET", base + "/v1/processes/teller/state", token: token).body) == #"{"transfers":3}"# })
            #expect(try await Self.request("GET", base + "/v1/processes/account-7/state", token: token).body == #"{"balance":1075}"#)
            let longestAgain = try await Self.request("POST", base + "/v1/processes/teller/messages", token: token, body: transfer, headers: ["Idempotency-Key": String(repeating: "k", count: 255)])
            #expect(longestAgain.status == 200 && longestAgain.json?["duplicate"] == true, "\(longestAgain.body)")
        }
    }

    /// A durable process with as much mail from outside as it takes
    /// (`--mailbox-limit`) refuses more with 429, `Retry-After` and the
    /// code `overloaded`, writing nothing; once it has handled its mail it
    /// takes more. A refused key is not taken: sent again later, it is
    /// accepted. (The limit is checked before the key: a resend of a key
    /// taken before is answered 429 too while the process is full.)
    @Test func aProcessOverItsMailboxLimitAnswers429WithRetryAfterAndWritesNothing() async throws {
        try await withTemporaryDataDirectory { dir in
            let node = try await NodeProcess(data: dir, tree: tree, durability: "process", extra: ["--http", "127.0.0.1:0", "--mailbox-limit", "2"])
            defer { _ = node.stop() }
            let base = try Self.baseURL(of: node)
            let token = try String(contentsOfFile: dir + "/http.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try await runShell(dir, ["suspend account-1"]).0 == 0)
            let messages = base + "/v1/processes/account-1/messages"
            let credit = #"{"credit":{"amount":1}}"#
            for key in ["c-1", "c-2"] {
                let sent = try await Self.request("POST", messages, token: token, body: credit, headers: ["Idempotency-Key": key])
                #expect(sent.status == 202, "\(sent.body)")
            }
            let refused = try await Self.request("POST", messages, token: token, body: credit, headers: ["Idempotency-Key": "c-3"])
            #expect(refused.status == 429, "\(refused.body)")
            #expect(refused.headers["retry-after"] == "1")
            #expect(refused.json?["error"]?["code"] == "overloaded")
            #expect(refused.json?["error"]?["retryAfterMilliseconds"] == 1000)
            #expect(refused.body.contains("mailbox limit"), "\(refused.body)")
            // The shell hears the same.
            let (status, _, err) = try await runShell(dir, [#"send account-1 {"credit":{"amount":1}}"#])
            #expect(status == 1 && err.contains("overloaded"), "\(err)")
            #expect(try await runShell(dir, ["resume account-1"]).0 == 0)
            #expect(await eventually { (try? await Self.request("GET", base + "/v1/processes/account-1/state", token: token).body) == #"{"balance":1002}"# })
            // Handled, the places are free again; the refused key was never taken.
            let later = try await Self.request("POST", messages, token: token, body: credit, headers: ["Idempotency-Key": "c-3"])
            #expect(later.status == 202, "\(later.body)")
            // A key taken before is a duplicate, which holds no place: the limit of 2 still takes two more.
            for _ in 0..<3 {
                #expect(try await Self.request("POST", messages, token: token, body: credit, headers: ["Idempotency-Key": "c-1"]).status == 200)
            }
            #expect(await eventually { (try? await Self.request("GET", base + "/v1/processes/account-1/state", token: token).body) == #"{"balance":1003}"# })
        }
    }

    /// A transient process takes JSON mail straight into its mailbox
    /// (`202 {}`, no seq, no key), and calls; a name with a `/` goes in a
    /// path percent-encoded.
    @Test func aTransientProcessTakesMailAndCallsAndANameWithASlashIsPercentEncoded() async throws {
        try await withTemporaryDataDirectory { dir in
            let node = try await NodeProcess(data: dir, tree: packageRoot.appendingPathComponent("Supervisors/demo.yaml").path, extra: ["--http", "127.0.0.1:0"])
            defer { _ = node.stop() }
            let base = try Self.baseURL(of: node)
            let token = try String(contentsOfFile: dir + "/http.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let info = try await Self.request("GET", base + "/v1/processes/demo%2Fpool%2Ftally-1", token: token)
            #expect(info.status == 200 && info.json?["name"] == "demo/pool/tally-1", "\(info.body)")

            // The collector (transient) sums what it is sent; the producer adds 1, 2, 3… each second.
            let collector = base + "/v1/processes/collector"
            let sent = try await Self.request("POST", collector + "/messages", token: token, body: #"{"value":{"_0":1000000}}"#)
            #expect(sent.status == 202 && sent.body == "{}", "\(sent.body)")
            let total = try await Self.request("POST", collector + "/calls?timeoutMs=2000", token: token, body: #"{"total":{}}"#)
            #expect(total.status == 200 && (Int(total.body) ?? 0) >= 1_000_000, "\(total.body)")
            // A key needs a journal; a wrong message names the process; a behavior whose messages are not Decodable cannot be sent JSON.
            let keyed = try await Self.request("POST", collector + "/messages", token: token, body: #"{"value":{"_0":1}}"#, headers: ["Idempotency-Key": "k"])
            #expect(keyed.status == 400 && keyed.json?["error"]?["code"] == "not_durable", "\(keyed.body)")
            let wrong = try await Self.request("POST", collector + "/messages", token: token, body: #"{"value":{"_0":"one"}}"#)
            #expect(wrong.status == 400 && wrong.json?["error"]?["code"] == "bad_message" && wrong.body.contains("not a message of"), "\(wrong.body)")
            let flaky = try await Self.request("POST", base + "/v1/processes/flaky/messages", token: token, body: #"{"crash":{}}"#)
            #expect(flaky.status == 400 && flaky.body.contains("not Decodable"), "\(flaky.body)")
            let after = try await Self.request("POST", collector + "/calls?timeoutMs=2000", token: token, body: #"{"total":{}}"#)
            #expect(after.status == 200 && (Int(after.body) ?? 0) < 1_000_000 + 1000, "the keyed or wrong message was taken: \(after.body)")
            // URLSession mends a broken escape; a raw request keeps it.
            let port = try #require(Int(base.split(separator: ":").last ?? ""))
            let malformed = try Self.rawRequest(port: port, "GET /v1/processes/demo%2 HTTP/1.1\r\nHost: calf\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n")
            #expect(malformed.hasPrefix("HTTP/1.1 400") && malformed.contains("%-escape"), "\(malformed)")
        }
    }

    /// A client stalled in the middle of a request is cut off after the idle
    /// timeout, and holds up no other client meanwhile.
    @Test func aStalledClientIsClosedAndOthersAreServed() async throws {
        try await withTemporaryDataDirectory { dir in
            let node = try await NodeProcess(data: dir, tree: tree, durability: "process", extra: ["--http", "127.0.0.1:0", "--http-idle-timeout", "1"])
            defer { _ = node.stop() }
            let base = try Self.baseURL(of: node)
            let port = try #require(Int(base.split(separator: ":").last ?? ""))
            let started = ContinuousClock.now
            async let stalled = Task.detached {
                // Half a request's headers, then nothing: the server closes it (recv sees the end).
                try Self.rawRequest(port: port, "POST /v1/processes/teller/messages HTTP/1.1\r\nHost: calf\r\nContent-Len")
            }.value
            #expect(try await Self.request("GET", base + "/healthz", token: nil).status == 200)
            let answer = try await stalled
            let waited = ContinuousClock.now - started
            #expect(!answer.hasPrefix("HTTP/1.1 2"), "\(answer)")
            #expect(waited >= .milliseconds(900) && waited < .seconds(20), "closed after \(waited)")
        }
    }

    @Test func aBadAddressOrTokenFileIsAClearError() async throws {
        try await withTemporaryDataDirectory { dir in
            var (status, _, err) = try await runCalf(["node", "--data", dir, "--http", "localhost", tree])
            #expect(status != 0 && err.contains("--http wants HOST:PORT"))
            (status, _, err) = try await runCalf(["node", "--data", dir, "--http", "127.0.0.1:0", "--token-file", dir + "/missing/dir/token", tree])
            #expect(status != 0 && err.contains("the HTTP token file"))
        }
    }
}
