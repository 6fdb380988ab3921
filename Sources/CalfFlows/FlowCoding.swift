import Calf
import CalfStore

// A flow's events and log write themselves field by field (`JournalCodable`):
// through Codable's generic containers an event cost about a microsecond to
// journal and a log's snapshot grew with every step (`calf bench flows`).

extension FlowEvent: JournalCodable {
    /// Writes the event: its case, then its fields.
    public func write(to writer: inout ByteWriter) {
        switch self {
        case .start:
            writer.varint(0)
        case .timerFired(let step):
            writer.varint(1)
            writer.string(step)
        case .effectCompleted(let completion):
            writer.varint(2)
            completion.write(to: &writer)
        case .callbackArrived(let arrival):
            writer.varint(3)
            arrival.write(to: &writer)
        case .signal(let name, let payload):
            writer.varint(4)
            writer.string(name)
            writer.string(payload)
        case .cancel:
            writer.varint(5)
        case .resume:
            writer.varint(6)
        case .reset(let step):
            writer.varint(7)
            writer.int(step)
        case .childEnded(let step, let output, let failure):
            writer.varint(8)
            Self.write(step: step, value: output, failure: failure, to: &writer)
        case .localRecorded(let step, let value, let failure):
            writer.varint(9)
            Self.write(step: step, value: value, failure: failure, to: &writer)
        }
    }

    /// A step's outcome: its id, its value (JSON) or its failure.
    private static func write(step: String, value: String?, failure: EffectFailure?, to writer: inout ByteWriter) {
        writer.string(step)
        writer.optionalString(value)
        writer.bool(failure != nil)
        failure?.write(to: &writer)
    }

    private static func readStepOutcome(_ reader: inout ByteReader) throws -> (String, String?, EffectFailure?) {
        let step = try reader.string("step")
        let value = try reader.optionalString("value")
        return (step, value, try reader.bool("failure") ? try EffectFailure(reading: &reader) : nil)
    }

    /// Reads what `write(to:)` wrote.
    public init(reading reader: inout ByteReader) throws {
        switch try reader.varint("event") {
        case 0: self = .start
        case 1: self = .timerFired(step: try reader.string("step"))
        case 2: self = .effectCompleted(try EffectCompletion(reading: &reader))
        case 3: self = .callbackArrived(try CallbackArrival(reading: &reader))
        case 4: self = .signal(name: try reader.string("name"), payload: try reader.string("payload"))
        case 5: self = .cancel
        case 6: self = .resume
        case 7: self = .reset(toStep: try reader.int("step"))
        case 8:
            let (step, output, failure) = try Self.readStepOutcome(&reader)
            self = .childEnded(step: step, output: output, failure: failure)
        case 9:
            let (step, value, failure) = try Self.readStepOutcome(&reader)
            self = .localRecorded(step: step, value: value, failure: failure)
        case let other: throw reader.error("unknown flow event \(other)")
        }
    }
}

extension CallbackArrival {
    func write(to writer: inout ByteWriter) {
        writer.varint(callback)
        writer.field(body)
        writer.optionalString(contentType)
        writer.varint(receivedAt.nanosecondsSinceEpoch)
    }

    init(reading reader: inout ByteReader) throws {
        self.init(
            callback: try reader.varint("callback"), body: try reader.field("body"),
            contentType: try reader.optionalString("contentType"),
            receivedAt: WallTime(nanosecondsSinceEpoch: try reader.varint("receivedAt")))
    }
}

extension FlowLog: JournalCodable {
    /// Writes the log (not its run).
    public func write(to writer: inout ByteWriter) {
        writer.string(type)
        writer.int(version)
        writer.string(input)
        writer.string(status.rawValue)
        writer.time(startedAt)
        writer.time(endedAt)
        writer.varint(UInt64(steps.count))
        for step in steps { step.write(to: &writer) }
        writer.optionalString(output)
        writer.bool(error != nil)
        error?.write(to: &writer)
        writer.bool(divergence != nil)
        if let divergence {
            writer.string(divergence.step)
            writer.optionalString(divergence.journal)
            writer.string(divergence.code)
            writer.string(divergence.reason)
        }
        // Sorted: the same log writes the same bytes in every process.
        writer.varint(UInt64(signals.count))
        for (name, payloads) in signals.sorted(by: { $0.key < $1.key }) {
            writer.string(name)
            writer.varint(UInt64(payloads.count))
            for payload in payloads { writer.string(payload) }
        }
        writer.varint(UInt64(arrivals.count))
        for (_, arrival) in arrivals.sorted(by: { $0.key < $1.key }) { arrival.write(to: &writer) }
        writer.bool(cancelRequested)
        writer.int(turns)
        writer.int(generation)
        writer.int(bytes)
        for map in [byEffect, byCallback] {
            writer.varint(UInt64(map.count))
            for (id, step) in map.sorted(by: { $0.key < $1.key }) {
                writer.varint(id)
                writer.string(step)
            }
        }
    }

    /// Reads what `write(to:)` wrote (its index rebuilt, no run).
    public init(reading reader: inout ByteReader) throws {
        self.init(type: try reader.string("type"), version: try reader.int("version"), input: try reader.string("input"))
        let status = try reader.string("status")
        guard let known = FlowStatus(rawValue: status) else { throw reader.error("unknown flow status '\(status)'") }
        self.status = known
        startedAt = try reader.time("startedAt")
        endedAt = try reader.time("endedAt")
        let count = try reader.count("steps")
        steps.reserveCapacity(count)
        for _ in 0..<count { append(try FlowStep(reading: &reader)) }
        output = try reader.optionalString("output")
        if try reader.bool("error") { error = try EffectFailure(reading: &reader) }
        if try reader.bool("divergence") {
            divergence = FlowDivergence(
                step: try reader.string("step"), journal: try reader.optionalString("journal"),
                code: try reader.string("code"), reason: try reader.string("reason"))
        }
        for _ in 0..<(try reader.count("signals")) {
            let name = try reader.string("signal")
            var payloads: [String] = []
            for _ in 0..<(try reader.count("payloads")) { payloads.append(try reader.string("payload")) }
            signals[name] = payloads
        }
        for _ in 0..<(try reader.count("arrivals")) {
            let arrival = try CallbackArrival(reading: &reader)
            arrivals[arrival.callback] = arrival
        }
        cancelRequested = try reader.bool("cancelRequested")
        turns = try reader.int("turns")
        generation = try reader.int("generation")
        let bytes = try reader.int("bytes")
        for which in 0..<2 {
            for _ in 0..<(try reader.count("ids")) {
                let id = try reader.varint("id")
                let step = try reader.string("step")
                if which == 0 { byEffect[id] = step } else { byCallback[id] = step }
            }
        }
        self.bytes = bytes // after `append`, which counts as it goes
    }
}

extension FlowStep {
    func write(to writer: inout ByteWriter) {
        writer.string(id)
        writer.string(kind.rawValue)
        writer.string(what)
        writer.word(digest)
        writer.string(site)
        writer.varint(at.nanosecondsSinceEpoch)
        writer.time(resolvedAt)
        switch result {
        case nil: writer.varint(0)
        case .value(let json)?:
            writer.varint(1)
            writer.string(json)
        case .none?: writer.varint(2)
        case .failure(let failure)?:
            writer.varint(3)
            failure.write(to: &writer)
        }
        writer.int(attempts ?? -1)
        writer.optionalVarint(timer?.id)
        writer.time(due)
        writer.optionalVarint(effect)
        writer.optionalVarint(callback)
        writer.optionalString(signal)
        writer.varint(UInt64(scopes.count))
        for scope in scopes { writer.string(scope) }
        writer.optionalVarint(child?.serial)
    }

    init(reading reader: inout ByteReader) throws {
        let id = try reader.string("id")
        let kindName = try reader.string("kind")
        guard let kind = FlowStepKind(rawValue: kindName) else { throw reader.error("unknown step kind '\(kindName)'") }
        self.init(id: id, kind: kind, what: try reader.string("what"), digest: try reader.word("digest"),
                  site: FlowSites.shared(try reader.string("site")), at: WallTime(nanosecondsSinceEpoch: try reader.varint("at")))
        resolvedAt = try reader.time("resolvedAt")
        switch try reader.varint("result") {
        case 0: result = nil
        case 1: result = .value(try reader.string("value"))
        case 2: result = FlowStepResult.none
        case 3: result = .failure(try EffectFailure(reading: &reader))
        case let other: throw reader.error("unknown step result \(other)")
        }
        let attempts = try reader.int("attempts")
        self.attempts = attempts < 0 ? nil : attempts
        timer = try reader.optionalVarint("timer").map(DurableTimerRef.init(id:))
        due = try reader.time("due")
        effect = try reader.optionalVarint("effect")
        callback = try reader.optionalVarint("callback")
        signal = try reader.optionalString("signal")
        for _ in 0..<(try reader.count("scopes")) { scopes.append(try reader.string("scope")) }
        child = try reader.optionalVarint("child").map(Pid.init(serial:))
    }
}

extension ByteWriter {
    fileprivate mutating func time(_ value: WallTime?) {
        optionalVarint(value?.nanosecondsSinceEpoch)
    }

    fileprivate mutating func optionalVarint(_ value: UInt64?) {
        bool(value != nil)
        if let value { varint(value) }
    }
}

extension ByteReader {
    fileprivate mutating func time(_ field: String) throws -> WallTime? {
        try optionalVarint(field).map(WallTime.init(nanosecondsSinceEpoch:))
    }

    fileprivate mutating func optionalVarint(_ field: String) throws -> UInt64? {
        try bool(field) ? try varint(field) : nil
    }

    fileprivate mutating func count(_ field: String) throws -> Int {
        let count = try varint(field)
        guard count <= 1 << 24 else { throw error("\(field): \(count) is more than a flow log holds") }
        return Int(count)
    }
}
