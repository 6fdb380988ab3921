import Calf
import CalfControl
import CalfFlows
import HTTPTypes
import Hummingbird

/// The flows' routes: start one by type (once per `Idempotency-Key`), read
/// where it stands, signal it, cancel it.
struct FlowRoutes: Sendable {
    let node: Node
    let catalog: FlowCatalog

    func add(to router: Router<BasicRequestContext>) {
        // One parameter name at each place of the path (Hummingbird's trie): here it is the type.
        router.post("/v1/flows/:id") { request, context in
            let type = try context.parameters.require("id")
            let input = try await HTTPReply.body(of: request)
            let id = Self.id(type: type, key: request.headers[HTTPReply.idempotencyKey])
            do {
                let created = try await catalog.start(type: type, input: input.bytes, id: id, on: node)
                return HTTPReply.json(created ? .accepted : .ok, ["id": .string(id)])
            } catch {
                return Self.refusal(error)
            }
        }
        router.get("/v1/flows/:id") { _, context in
            let id = try Self.flowID(context)
            guard let log = try await catalog.log(of: id, on: node) else {
                if let gone = Self.gone(id, on: node) { return HTTPReply.json(.ok, gone) }
                return HTTPReply.error(.notFound, code: "no_flow", "no flow '\(id)'")
            }
            return HTTPReply.json(.ok, Self.report(id: id, log))
        }
        router.post("/v1/flows/:id/signals/:signal") { request, context in
            let id = try Self.flowID(context)
            let signal = try context.parameters.require("signal")
            let payload = try await HTTPReply.body(of: request)
            guard try await catalog.log(of: id, on: node) != nil, let address = node.address(named: id, as: FlowEvent.self) else {
                return HTTPReply.error(.notFound, code: "no_flow", "no flow '\(id)'")
            }
            let event = FlowEvent.signal(name: signal, payload: payload.text)
            return Self.accepted(await node.send(event, to: address, key: request.headers[HTTPReply.idempotencyKey]))
        }
        router.post("/v1/flows/:id/cancel") { request, context in
            let id = try Self.flowID(context)
            guard try await catalog.log(of: id, on: node) != nil, let address = node.address(named: id, as: FlowEvent.self) else {
                return HTTPReply.error(.notFound, code: "no_flow", "no flow '\(id)'")
            }
            return Self.accepted(await node.send(FlowEvent.cancel, to: address, key: request.headers[HTTPReply.idempotencyKey]))
        }
    }

    /// The `{id}` of a route, percent-decoded.
    static func flowID(_ context: BasicRequestContext) throws -> String {
        let raw = try context.parameters.require("id")
        guard let id = percentDecoded(raw) else {
            throw HTTPReply.Refusal(status: .badRequest, code: "bad_request", message: "the flow id '\(raw)' has a malformed %-escape")
        }
        return id
    }

    /// The flow's id: from the type and the idempotency key (the same key
    /// again names the same flow), else new.
    static func id(type: String, key: String?) -> String {
        guard let key else {
            var generator = SystemRandomNumberGenerator()
            return "\(type)-" + hex(generator.next()) + hex(generator.next())
        }
        // Two FNV-1a hashes of the key: an id of fixed length whatever the key holds.
        var first: UInt64 = 0xcbf2_9ce4_8422_2325
        var second: UInt64 = 0x8422_2325_cbf2_9ce4
        for byte in key.utf8 {
            first = (first ^ UInt64(byte)) &* 0x100_0000_01b3
            second = (second ^ UInt64(byte)) &* 0x100_0000_01b3
            second = second ^ (second >> 29)
        }
        return "\(type)-k" + hex(first) + hex(second)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// `{"id", "type", "version", "status", "output", "error", "steps", "divergence"}`.
    static func report(id: String, _ log: FlowLog) -> JSONValue {
        var report: [String: JSONValue] = [
            "id": .string(id), "type": .string(log.type), "version": .integer(Int64(log.version)),
            "status": .string(log.status.rawValue), "steps": .integer(Int64(log.steps.count)),
            "output": .null, "error": .null, "divergence": .null,
        ]
        if let output = log.output { report["output"] = (try? JSONValue(parsing: output)) ?? .string(output) }
        if let error = log.error {
            report["error"] = ["kind": .string(error.kind), "message": .string(error.message), "attempts": .integer(Int64(error.attempts))]
        }
        if let divergence = log.divergence { report["divergence"] = .string(divergence.description) }
        return .object(report)
    }

    /// Flow `id`, when it is one of a version this node does not have
    /// (parked at the node's start, its journal kept): status `gone`.
    static func gone(_ id: String, on node: Node) -> JSONValue? {
        guard let report = node.recoveryReport,
              let (pid, unknown) = report.unknownBehaviors.first(where: { $0.value.name == id && $0.value.behavior.hasPrefix("flow:") }),
              let versioned = unknown.versioned else { return nil }
        return [
            "id": .string(id), "type": .string(String(versioned.name.dropFirst("flow:".count))), "version": .integer(Int64(versioned.version)),
            "status": "gone", "steps": .null, "output": .null, "divergence": .null,
            "error": ["kind": "gone", "message": .string(report.quarantined[pid] ?? "this node has no code for \(unknown.behavior)")],
        ]
    }

    private static func accepted(_ result: IngressResult) -> Response {
        switch result {
        case .accepted(let seq): HTTPReply.json(.accepted, ["seq": .unsigned(seq)])
        case .duplicate(let seq): HTTPReply.json(.ok, ["duplicate": true, "seq": .unsigned(seq)])
        case .failed(let error): HTTPReply.error(.serviceUnavailable, code: "not_accepted", "\(error)")
        }
    }

    private static func refusal(_ error: any Error) -> Response {
        switch error {
        case let error as FlowCatalogError:
            switch error {
            case .unknownType: return HTTPReply.error(.notFound, code: "no_flow_type", error.description)
            case .badInput: return HTTPReply.error(.badRequest, code: "bad_input", error.description)
            case .noFlow: return HTTPReply.error(.notFound, code: "no_flow", error.description)
            case .nameTaken: return HTTPReply.error(.conflict, code: "name_taken", error.description)
            }
        default:
            return HTTPReply.error(.serviceUnavailable, code: "not_accepted", "the flow was not started: \(error)")
        }
    }
}
