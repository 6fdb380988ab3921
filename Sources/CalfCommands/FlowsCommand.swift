import ArgumentParser
import Calf
import CalfFlows
import CalfShell
import Foundation

/// `calf flows check --data DIR`: the deploy gate of flows.
struct FlowsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flows",
        abstract: "Work with a data directory's flows.",
        subcommands: [FlowsCheckCommand.self]
    )
}

/// Replays every live flow of a data directory (a copy of it, read-only)
/// against this binary's code and lists the divergences: run by the new
/// binary before a deploy.
struct FlowsCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Replay every live flow of a data directory against this binary's code; list divergences.",
        discussion: "Read-only: the directory is copied (beside a running node too). Exits 1 when a flow diverges or its version is gone."
    )

    @Option(name: .long, help: "The data directory.")
    var data: String

    func run() async throws {
        let behaviors = registeredBehaviors.withLock { $0.durable }
        let catalog = FlowCatalog(behaviors)
        let copy: OfflineNode
        do {
            copy = try OfflineNode(dataDirectory: data, behaviors: behaviors)
        } catch {
            FileHandle.standardError.write(Data("calf flows check: \(error)\n".utf8))
            throw ExitCode(1)
        }
        defer { copy.close() }
        let node = copy.inspected
        var rows: [[String]] = []
        var problems = 0
        for (pid, reason) in copy.quarantined.sorted(by: { $0.key.serial < $1.key.serial }) where reason.contains("flow:") {
            problems += 1
            rows.append([pid.description, "-", "-", "gone", reason])
        }
        for process in await node.processReports() where process.behavior.hasPrefix("flow:") {
            let name = process.name ?? "-"
            guard let kind = catalog.kinds.first(where: { $0.behaviorName == process.behavior }),
                  let pid = Pid(parsing: process.pid), let outcome = await kind.check(pid, on: node) else {
                problems += 1
                rows.append([process.pid, name, process.behavior, "gone", "this binary has no code for \(process.behavior)"])
                continue
            }
            switch outcome {
            case .replays(let waiting):
                rows.append([process.pid, name, process.behavior, "ok", "replays; waits on " + (waiting.isEmpty ? "-" : waiting.joined(separator: ", "))])
            case .diverged(let divergence):
                problems += 1
                rows.append([process.pid, name, process.behavior, "diverged", divergence.description])
            case .ended(let status):
                rows.append([process.pid, name, process.behavior, "ok", "ended (\(status.rawValue))"])
            case .notStarted:
                rows.append([process.pid, name, process.behavior, "ok", "not started"])
            }
        }
        guard !rows.isEmpty else {
            print("no flows in \(data)")
            return
        }
        print(ShellFormat.columns(["PID", "NAME", "FLOW", "CHECK", "WHAT"], rows))
        print(problems == 0 ? "every flow replays" : "\(problems) flow\(problems == 1 ? "" : "s") would not go on with this binary")
        if problems > 0 { throw ExitCode(1) }
    }
}
