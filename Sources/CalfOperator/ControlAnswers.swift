import Calf
import FoundationEssentials

/// Answers the requests of the control protocol from a node, one small
/// function per command (`trace` and `top` are answered by their
/// connection: a stream, a sampler of its own). Each answer is encoded once,
/// typed, straight into its frame.
package enum ControlAnswers {
    /// The reply to `request`.
    package static func answer(_ request: ControlRequest, on node: Node) async -> EncodedReply {
        switch request {
        case .send(let target, let message, let key): return await send(message, to: target, key: key, on: node)
        case .call(let target, let message, let timeout): return await call(message, to: target, timeoutMilliseconds: timeout, on: node)
        case .state(let target, let at): return await state(of: target, at: at, on: node)
        case .ps(let order, let passivated):
            let live = await node.processReports()
            guard passivated else { return .success(order.sorted(live)) }
            return .success(order.sorted(mergedByPid(live, node.passivatedReports())))
        case .info(let target):
            guard let report = await node.processReport(target) else { return noProcess(target) }
            return .success(report)
        case .tree: return .success(await node.supervisionTrees())
        case .mailbox(let target):
            guard let mail = await node.mailbox(of: target) else { return noProcess(target) }
            return .success(mail)
        case .kill(let target, let reason): return done(await node.exit(target, reason: reason.flatMap(exitReason)), target)
        case .restart(let target): return done(await node.exit(target, reason: nil), target)
        case .suspend(let target): return done(await node.suspend(target), target)
        case .resume(let target): return done(await node.resume(target), target)
        case .passivate(let target): return await passivate(target, on: node)
        case .move(let target, let scheduler): return await move(target, to: scheduler, on: node)
        case .stats: return .success(await node.stats())
        case .journal(let target, let from, let limit): return await journal(of: target, from: from, limit: limit, on: node)
        case .deadLetters(let target): return await deadLetters(of: target, on: node)
        case .retryDeadLetter(let id): return ingress(await node.retryDeadLetter(id))
        case .callbacks(let target):
            do {
                return .success(try node.callbackReports(of: target))
            } catch {
                return .failure(ControlError(error))
            }
        case .effects(let target):
            do throws(DurableError) {
                return .success(try node.effectReports(of: target))
            } catch {
                return .failure(ControlError(error))
            }
        case .names:
            let names = node.registeredNames.mapValues(\.description)
            return .success(NameList(names: names, pids: await node.livePids().map(\.description)))
        case .flows: return await FlowAnswers.flows(on: node)
        case .flow(let target, let upTo): return await FlowAnswers.flow(target, upTo: upTo, on: node)
        case .trace, .top:
            // invariant: a connection answers these itself (ControlConnection: a stream, a sampler of its own).
            return .failure(.badRequest, "\(request.command) is answered by a connection, not here")
        }
    }

    /// Through the journal to a durable process; else straight into a
    /// transient one's mailbox (no seq, and no idempotency key: that needs a journal).
    private static func send(_ message: JSONValue, to target: String, key: String?, on node: Node) async -> EncodedReply {
        let result = await node.sendJSON(message.bytes, to: target, key: key)
        switch result {
        case .failed(.noProcess), .failed(.notDurableNode):
            do throws(IngressRefusal) {
                guard try await node.sendTransientJSON(message.bytes, to: target, key: key) != nil else { return ingress(result) }
                return .success(SendAnswer(seq: nil, duplicate: false))
            } catch {
                return .failure(ControlError(error))
            }
        default:
            return ingress(result)
        }
    }

    private static func ingress(_ result: IngressResult) -> EncodedReply {
        switch result {
        case .accepted(let seq): .success(SendAnswer(seq: seq, duplicate: false))
        case .duplicate(let seq): .success(SendAnswer(seq: seq, duplicate: true))
        case .failed(let refusal): .failure(ControlError(refusal))
        }
    }

    private static func call(_ message: JSONValue, to target: String, timeoutMilliseconds: Int?, on node: Node) async -> EncodedReply {
        let timeout = Duration.milliseconds(max(1, timeoutMilliseconds ?? 5000))
        do {
            return .success(RawJSON(encoded: try await node.callJSON(message.bytes, to: target, timeout: timeout)))
        } catch {
            return .failure(ControlError(error))
        }
    }

    private static func state(of target: String, at seq: UInt64?, on node: Node) async -> EncodedReply {
        do {
            let json = if let seq { try await node.stateJSON(of: target, at: seq) } else { try await node.stateJSON(of: target) }
            return .success(RawJSON(encoded: json))
        } catch {
            return .failure(ControlError(error))
        }
    }

    private static func journal(of target: String, from: UInt64?, limit: Int?, on node: Node) async -> EncodedReply {
        do {
            let limit = min(max(limit ?? 100, 1), 100_000)
            return .success(try await node.journalEntries(of: target, from: from ?? 0, limit: limit))
        } catch {
            return .failure(ControlError(error))
        }
    }

    /// Two lists of reports in pid order, merged in pid order.
    private static func mergedByPid(_ first: [ProcessReport], _ second: [ProcessReport]) -> [ProcessReport] {
        guard !second.isEmpty else { return first }
        guard !first.isEmpty else { return second }
        var merged: [ProcessReport] = []
        merged.reserveCapacity(first.count + second.count)
        var i = 0, j = 0
        while i < first.count, j < second.count {
            // invariant: reports carry printed pids, which parse.
            if Pid(parsing: first[i].pid)! < Pid(parsing: second[j].pid)! {
                merged.append(first[i]); i += 1
            } else {
                merged.append(second[j]); j += 1
            }
        }
        merged.append(contentsOf: first[i...])
        merged.append(contentsOf: second[j...])
        return merged
    }

    private static func deadLetters(of target: String?, on node: Node) async -> EncodedReply {
        do {
            return .success(try await node.deadLetterReports(of: target))
        } catch {
            return .failure(ControlError(error))
        }
    }

    private static func move(_ target: String, to scheduler: Int, on node: Node) async -> EncodedReply {
        do {
            switch try await node.move(target, to: scheduler) {
            case nil: return noProcess(target)
            case true?: return .success(Done())
            case false?:
                return .failure(.notMoved, "\(target) stays where it is: pinned, a supervisor or a port, being rebuilt or stopping, in a checkpoint round, moving already, or on scheduler \(scheduler) already")
            }
        } catch {
            return .failure(.badRequest, "\(error)")
        }
    }

    private static func passivate(_ target: String, on node: Node) async -> EncodedReply {
        do throws(DurableError) {
            switch try await node.passivate(target) {
            case .passivated: return .success(PassivateAnswer(passivated: true, already: false, stays: nil))
            case .alreadyPassivated: return .success(PassivateAnswer(passivated: true, already: true, stays: nil))
            case .stays(let reason): return .success(PassivateAnswer(passivated: false, already: false, stays: reason))
            }
        } catch {
            return .failure(ControlError(error))
        }
    }

    private static func done(_ found: Bool, _ target: String) -> EncodedReply {
        found ? .success(Done()) : noProcess(target)
    }

    private static func noProcess(_ target: String) -> EncodedReply {
        .failure(.noProcess, "no process \(target)")
    }

    /// The reason `kill P REASON` names: `normal`, `shutdown`, `killed`, or the operator's own words.
    static func exitReason(_ text: String) -> ExitReason? {
        switch text {
        case "normal": .normal
        case "shutdown": .shutdown
        case "killed", "kill": nil
        default: .error(OperatorExit(reason: text))
        }
    }
}

extension ProcessOrder {
    /// `reports`, given by pid, in this order (largest first; by pid among equals).
    func sorted(_ reports: [ProcessReport]) -> [ProcessReport] {
        func largestFirst(_ key: (ProcessReport) -> UInt64) -> [ProcessReport] {
            // Indices sorted on keys computed once (ties by index: stable), then each report moved once.
            let keys = reports.map(key)
            let order = reports.indices.sorted { keys[$0] != keys[$1] ? keys[$0] > keys[$1] : $0 < $1 }
            return order.map { reports[$0] }
        }
        switch self {
        case .pid: return reports
        case .mailbox: return largestFirst { UInt64(clamping: $0.mailbox) }
        case .messages: return largestFirst(\.handled)
        case .memory: return largestFirst { UInt64(clamping: $0.memory) }
        case .restarts: return largestFirst(\.restarts)
        }
    }
}
