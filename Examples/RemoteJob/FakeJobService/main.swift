// fake-jobs: a small remote job service for the RemoteJob example and its
// tests, the API of Flowmetal's reboot example:
//   POST /api/v3/host/{host}   {"stages": [...], "callbacks": [URL, ...]}, header Idempotency-Key
//                              → {"job_id": "job-N"} (the same key again: the same job)
//   GET  /api/v3/job/{id}/status → {"status": "PENDING" | "SUCCESS" | "FAILURE"}
//   GET  /api/v3/job/{id}        → the job's JSON
//   GET  /stats                  → jobs by host, keys, requests, callbacks sent
// A job succeeds after --job-seconds; then, with probability
// --callback-rate, it POSTs {"job_id", "status"} to its callbacks (retrying
// until a 2xx or 4xx, for a minute). With probability --fail-rate a request
// is answered 503 (Retry-After: 0) before anything happens, and with
// --lose-rate a creation happens but its answer is a 503 (a lost answer:
// the client's retry with the same key gets the same job). --fail-creates N
// answers each host's first N creations 503; --callback-times N sends each
// callback N times (the same body).
import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

struct Options {
    var host = "127.0.0.1"
    var port = 8089
    var jobSeconds = 0.3
    var callbackRate = 0.5
    var failRate = 0.0
    var loseRate = 0.0
    var failCreates = 0
    var callbackTimes = 1

    init(_ arguments: [String]) throws {
        var rest = arguments.dropFirst()
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { throw Usage(text: "\(flag) wants a value") }
            switch flag {
            case "--host": host = value
            case "--port": port = try Self.number(flag, value, Int.init)
            case "--job-seconds": jobSeconds = try Self.number(flag, value, Double.init)
            case "--callback-rate": callbackRate = try Self.number(flag, value, Double.init)
            case "--fail-rate": failRate = try Self.number(flag, value, Double.init)
            case "--lose-rate": loseRate = try Self.number(flag, value, Double.init)
            case "--fail-creates": failCreates = try Self.number(flag, value, Int.init)
            case "--callback-times": callbackTimes = try Self.number(flag, value, Int.init)
            default: throw Usage(text: "unknown option \(flag)")
            }
        }
    }

    static func number<T>(_ flag: String, _ text: String, _ parse: (String) -> T?) throws -> T {
        guard let value = parse(text) else { throw Usage(text: "\(flag) wants a number, not '\(text)'") }
        return value
    }
}

struct Usage: Error, CustomStringConvertible {
    var text: String
    var description: String {
        "\(text)\nusage: fake-jobs [--host H] [--port N (0 picks one)] [--job-seconds S] [--callback-rate P] [--fail-rate P] [--lose-rate P] [--fail-creates N] [--callback-times N]"
    }
}

struct Job: Codable, Sendable {
    var id: String
    var host: String
    var stages: [String]
    var callbacks: [String]
    var status: String
    var key: String
}

struct CreateBody: Codable {
    var stages: [String]
    var callbacks: [String]?
}

/// What the service knows, under one lock.
final class Jobs: Sendable {
    struct Books: Sendable {
        var jobs: [String: Job] = [:]
        var byKey: [String: String] = [:]
        var byHost: [String: [String]] = [:]
        var requests = 0
        var callbacksSent = 0
        var createAttempts: [String: Int] = [:]
        var statusPolls = 0
        var callbackStatuses: [Int] = []
    }
    let books = Mutex(Books())
}

let options: Options
do {
    options = try Options(CommandLine.arguments)
} catch {
    FileHandle.standardError.write(Data("fake-jobs: \(error)\n".utf8))
    exit(2)
}
let jobs = Jobs()
let silent = Logger(label: "fake-jobs") { _ in SwiftLogNoOpLogHandler() }

func json<T: Encodable>(_ status: HTTPResponse.Status, _ value: T) -> Response {
    let data = (try? JSONEncoder().encode(value)) ?? Data("{}".utf8)
    return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
}

func unavailable() -> Response {
    Response(status: .serviceUnavailable, headers: [.retryAfter: "0"], body: ResponseBody(byteBuffer: ByteBuffer(string: "busy, try again")))
}

func roll(_ rate: Double) -> Bool { rate > 0 && Double.random(in: 0..<1) < rate }

/// Finishes `id` after the job's time, then calls back (maybe).
func run(_ id: String) {
    Task {
        try? await Task.sleep(for: .milliseconds(Int(options.jobSeconds * 1000)))
        let job = jobs.books.withLock { books -> Job? in
            books.jobs[id]?.status = "SUCCESS"
            return books.jobs[id]
        }
        guard let job, roll(options.callbackRate) || options.callbackRate >= 1 else { return }
        let body = "{\"job_id\":\"\(job.id)\",\"status\":\"SUCCESS\"}"
        for url in Array(repeating: job.callbacks, count: max(1, options.callbackTimes)).joined() {
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body))
                if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(5)), response.status.code < 500 {
                    _ = try? await response.body.collect(upTo: 1 << 16)
                    jobs.books.withLock {
                        $0.callbacksSent += 1
                        $0.callbackStatuses.append(Int(response.status.code))
                    }
                    break
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}

let router = Router()
router.post("/api/v3/host/:host") { request, context -> Response in
    let host = try context.parameters.require("host")
    let attempt = jobs.books.withLock { books -> Int in
        books.requests += 1
        books.createAttempts[host, default: 0] += 1
        return books.createAttempts[host] ?? 0
    }
    if attempt <= options.failCreates || roll(options.failRate) { return unavailable() }
    guard let key = request.headers[HTTPField.Name("Idempotency-Key")!], !key.isEmpty else {
        return json(.badRequest, ["error": "an Idempotency-Key header is required"])
    }
    var request = request
    let body: CreateBody
    do {
        body = try JSONDecoder().decode(CreateBody.self, from: Data(buffer: try await request.collectBody(upTo: 1 << 20)))
    } catch {
        return json(.badRequest, ["error": "the body is not {\"stages\": [...], \"callbacks\": [...]}: \(error)"])
    }
    let (id, created) = jobs.books.withLock { books -> (String, Bool) in
        if let id = books.byKey[key] { return (id, false) }
        let id = "job-\(books.jobs.count + 1)"
        books.jobs[id] = Job(id: id, host: host, stages: body.stages, callbacks: body.callbacks ?? [], status: "PENDING", key: key)
        books.byKey[key] = id
        books.byHost[host, default: []].append(id)
        return (id, true)
    }
    if created { run(id) }
    if roll(options.loseRate) { return unavailable() }
    return json(created ? .created : .ok, ["job_id": id])
}
router.get("/api/v3/job/:id/status") { _, context -> Response in
    let id = try context.parameters.require("id")
    jobs.books.withLock {
        $0.requests += 1
        $0.statusPolls += 1
    }
    if roll(options.failRate) { return unavailable() }
    guard let job = jobs.books.withLock({ $0.jobs[id] }) else { return json(.notFound, ["error": "no job \(id)"]) }
    return json(.ok, ["status": job.status])
}
router.get("/api/v3/job/:id") { _, context -> Response in
    let id = try context.parameters.require("id")
    jobs.books.withLock { $0.requests += 1 }
    if roll(options.failRate) { return unavailable() }
    guard let job = jobs.books.withLock({ $0.jobs[id] }) else { return json(.notFound, ["error": "no job \(id)"]) }
    return json(.ok, job)
}
router.get("/stats") { _, _ -> Response in
    struct Stats: Encodable {
        var jobsByHost: [String: [String]]
        var keys: Int
        var requests: Int
        var callbacksSent: Int
        var statusPolls: Int
        var callbackStatuses: [Int]
        var createAttempts: [String: Int]
    }
    let stats = jobs.books.withLock {
        Stats(jobsByHost: $0.byHost, keys: $0.byKey.count, requests: $0.requests, callbacksSent: $0.callbacksSent,
              statusPolls: $0.statusPolls, callbackStatuses: $0.callbackStatuses, createAttempts: $0.createAttempts)
    }
    return json(.ok, stats)
}

let app = Application(
    router: router,
    configuration: ApplicationConfiguration(address: .hostname(options.host, port: options.port), serverName: "fake-jobs"),
    onServerRunning: { channel in
        // Written whole at once (a test reads the line as it comes).
        FileHandle.standardOutput.write(Data("fake-jobs ready http://\(options.host):\(channel.localAddress?.port ?? options.port)\n".utf8))
    },
    logger: silent)
do {
    try await app.runService()
} catch {
    FileHandle.standardError.write(Data("fake-jobs: \(error)\n".utf8))
    exit(1)
}
