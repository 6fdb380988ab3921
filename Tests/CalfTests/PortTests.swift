import Calf
import Foundation
import Testing

/// Whether OS process `pid` is running (a zombie counts as gone).
func isRunning(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    let state = stat[stat.index(close, offsetBy: 2)...].prefix(1)
    return state != "Z" && state != "X"
}

/// The pids of OS processes in process group `group` still running.
func runningInGroup(_ group: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        return fields.count > 3 && fields[0] != "Z" && Int32(fields[2]) == group
    }
}

@Suite(.timeLimit(.minutes(2))) struct PortTests {
    func lines(_ stream: AsyncStream<PortOutput>) async -> String? {
        guard case .line(_, let text) = await next(stream) else { return nil }
        return text
    }

    @Test func linesGoToTheOwnerAndMessagesToStdin() async throws {
        let node = try Node(schedulers: 1)
        let (owner, output) = try await node.receiver(of: PortOutput.self)
        let port = try await node.spawn(Port(PortSpec(
            command: ["/bin/sh", "-c", "echo \"dir=$(pwd) greeting=$GREETING\"; while read line; do echo \"got $line\"; done"],
            workingDirectory: "/tmp", environment: ["GREETING": "hello"], owner: .address(owner) { $0 })))
        #expect(await lines(output) == "dir=/tmp greeting=hello")
        node.send(.writeLine("one"), to: port)
        node.send(.writeLine("two"), to: port)
        #expect(await lines(output) == "got one")
        #expect(await lines(output) == "got two")
        try await node.shutdown()
    }

    @Test func lengthPrefixedFramesBothWays() async throws {
        let node = try Node(schedulers: 1)
        let (owner, output) = try await node.receiver(of: PortOutput.self)
        let port = try await node.spawn(Port(PortSpec(command: ["cat"], framing: .lengthPrefixed, owner: .address(owner) { $0 })))
        let payload: [UInt8] = [0, 10, 255, 1, 2, 3]
        node.send(.write(payload), to: port)
        node.send(.write([]), to: port)
        #expect(await next(output) == .frame(port: port.pid, bytes: payload))
        try await node.shutdown()
    }

    @Test func theExitStatusIsTheExitReason() async throws {
        let node = try Node(schedulers: 1)
        let (owner, output) = try await node.receiver(of: PortOutput.self)
        let failing = try await node.spawn(Port(PortSpec(command: ["/bin/sh", "-c", "read go; echo last words; exit 3"], owner: .address(owner) { $0 })))
        let down = try await watchDown(node, failing)
        node.send(.writeLine("go"), to: failing)
        #expect(await lines(output) == "last words")
        #expect(await downReason(down) == .error(PortError.exited(command: "/bin/sh -c read go; echo last words; exit 3", status: 3)))

        let fine = try await node.spawn(Port(PortSpec(command: ["/bin/sh", "-c", "read go"])))
        let fineDown = try await watchDown(node, fine)
        node.send(.writeLine("go"), to: fine)
        #expect(await downReason(fineDown) == .normal)
        try await node.shutdown()
    }

    @Test func aCommandThatCannotStartIsACrash() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("sup", intensity: 2, period: .seconds(3600)) {
            worker("bystander", board)
            ChildSpec.port("broken", PortSpec(command: ["/nonexistent/command", "x"]), backoff: Backoff(initial: .seconds(30), maximum: .seconds(30)))
        })
        // It started, then crashed with a clear reason, and waits for its restart like any crashed child.
        let broken = await sup.children { $0.last?.lastExit != nil }
        #expect(broken.last?.lastExit?.contains("port command '/nonexistent/command x' cannot start") == true, "\(broken)")
        #expect(broken.last?.status == .restarting && broken.last?.restarts == 1)
        #expect(board.starts("bystander") == 1)
        try await node.shutdown()
    }

    @Test func aSupervisedPortIsRestartedAfterAnAbnormalExit() async throws {
        let node = try Node(schedulers: 1)
        let (owner, output) = try await node.receiver(of: PortOutput.self)
        let sup = try await node.startSupervisor(SupervisorSpec("sup", intensity: 5, period: .seconds(3600)) {
            ChildSpec.port("flaky", PortSpec(command: ["/bin/sh", "-c", "echo $$; read go; exit 1"], owner: .address(owner) { $0 }))
        })
        let firstPid = try #require(Int32(await lines(output) ?? ""))
        let firstPort = try #require(try await sup.pid(of: "flaky"))
        let port = try #require(await node.address(of: firstPort, as: PortMessage.self))
        node.send(.writeLine("go"), to: port)
        let secondPid = try #require(Int32(await lines(output) ?? ""))
        #expect(secondPid != firstPid)
        let children = await sup.children { $0.first?.pid != nil && $0.first?.pid != firstPort }
        #expect(children.first?.restarts == 1)
        #expect(await eventually { !isRunning(firstPid) })
        try await node.shutdown()
        #expect(await eventually { !isRunning(secondPid) })
    }

    @Test func shutdownLeavesNoOrphanOSProcess() async throws {
        let node = try Node(schedulers: 1)
        let (owner, output) = try await node.receiver(of: PortOutput.self)
        _ = try await node.startSupervisor(SupervisorSpec("sup") {
            // The shell ignores SIGTERM, so only the SIGKILL after killAfter ends it and its sleep.
            ChildSpec.port("stubborn", PortSpec(
                command: ["/bin/sh", "-c", "trap '' TERM; echo $$; while true; do sleep 0.05; done"],
                owner: .address(owner) { $0 }, killAfter: .milliseconds(150)))
            ChildSpec.port("loop", PortSpec(command: ["/bin/sh", "-c", "echo $$; while true; do sleep 1; done"], owner: .address(owner) { $0 }))
        })
        let groups = [try #require(Int32(await lines(output) ?? "")), try #require(Int32(await lines(output) ?? ""))]
        #expect(groups.allSatisfy { !runningInGroup($0).isEmpty })
        let began = ContinuousClock.now
        try await node.shutdown()
        #expect(ContinuousClock.now - began >= .milliseconds(150))
        for group in groups {
            #expect(await eventually { runningInGroup(group).isEmpty }, "process group \(group) outlived its port")
        }
    }

    @Test func aCommandDoesNotInheritTheNodesDescriptors() async throws {
        // A descriptor left open without close-on-exec, as a journal or a parent's pipe might be.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("calf-port-fd-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        let descriptor = open(path, O_RDONLY)
        defer { close(descriptor); unlink(path) }
        #expect(descriptor > 2)
        let node = try Node(schedulers: 1)
        let (owner, output) = try await node.receiver(of: PortOutput.self)
        _ = try await node.spawn(Port(PortSpec(command: ["/bin/sh", "-c", "echo $$; exec sleep 120"], owner: .address(owner) { $0 })))
        let pid = try #require(await lines(output).flatMap { Int32($0) })
        // (Tests running beside this one open descriptors of their own meanwhile: only ours is checked.)
        let inherited = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")
        }
        #expect(inherited.count >= 3)
        #expect(!inherited.contains(path), "\(inherited)")
        try await node.shutdown()
    }

    @Test func killingThePortKillsItsCommand() async throws {
        let node = try Node(schedulers: 1)
        let (owner, output) = try await node.receiver(of: PortOutput.self)
        let port = try await node.spawn(Port(PortSpec(command: ["/bin/sh", "-c", "echo $$; while true; do sleep 1; done"], owner: .address(owner) { $0 })))
        let group = try #require(Int32(await lines(output) ?? ""))
        node.kill(port)
        #expect(await eventually { runningInGroup(group).isEmpty })
        try await node.shutdown()
    }
}

