import Calf
import Yams

/// A tree file of `Supervisors/`: for now a list of named durable workers
/// (the supervision work extends the format with supervisors and ports).
///
/// ```yaml
/// workers:
///   - name: account-0
///     behavior: Account
///     config: { opening: 1000 }
/// ```
struct TreeFile {
    struct Worker {
        var name: String
        var behavior: String
        /// The behavior's own fields, decoded into it (`{}` when absent).
        var config: Yams.Node
        /// Where it is in the file, for errors.
        var place: String
    }

    /// A problem with a tree file, with its place.
    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    let path: String
    var workers: [Worker] = []

    /// Reads and checks `path`.
    init(path: String, text: String) throws {
        self.path = path
        let root: Yams.Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw Problem(description: "\(path): not YAML: \(error)")
        }
        func place(_ node: Yams.Node) -> String {
            node.mark.map { "\(path):\($0.line):\($0.column)" } ?? path
        }
        guard let root, let top = root.mapping else { throw Problem(description: "\(path): expected a mapping with 'workers'") }
        for (key, _) in top where key.string != "workers" {
            throw Problem(description: "\(place(key)): unknown key '\(key.string ?? "?")' (expected: workers)")
        }
        guard let list = top["workers"]?.sequence else { throw Problem(description: "\(place(root)): 'workers' must be a list") }
        var names: Set<String> = []
        for item in list {
            guard let entry = item.mapping else { throw Problem(description: "\(place(item)): a worker is a mapping with name, behavior, config") }
            for (key, _) in entry where !["name", "behavior", "config"].contains(key.string ?? "") {
                throw Problem(description: "\(place(key)): unknown key '\(key.string ?? "?")' (expected: name, behavior, config)")
            }
            guard let name = entry["name"]?.string, !name.isEmpty else { throw Problem(description: "\(place(item)): a worker needs a name") }
            guard let behavior = entry["behavior"]?.string else { throw Problem(description: "\(place(item)): worker '\(name)' needs a behavior") }
            guard names.insert(name).inserted else { throw Problem(description: "\(place(item)): worker name '\(name)' appears twice") }
            workers.append(Worker(name: name, behavior: behavior, config: entry["config"] ?? Yams.Node.mapping([:]), place: place(item)))
        }
    }

    /// Checks every worker against the behaviors known, before anything starts.
    func check(against behaviors: [String: any DurableBehavior.Type]) throws {
        for worker in workers {
            guard let type = behaviors[worker.behavior] else {
                throw Problem(description: "\(worker.place): unknown behavior '\(worker.behavior)' (known: \(behaviors.keys.sorted().joined(separator: ", ")))")
            }
            _ = try decode(type, worker)
        }
    }

    func decode<B: DurableBehavior>(_ type: B.Type, _ worker: Worker) throws -> B {
        do {
            return try YAMLDecoder().decode(B.self, from: worker.config)
        } catch {
            throw Problem(description: "\(worker.place): bad config for \(worker.behavior): \(error)")
        }
    }

    /// Boots every worker: the one of that name the journal brought back, or a new one.
    func boot(on node: Calf.Node, behaviors: [String: any DurableBehavior.Type]) async throws {
        for worker in workers {
            guard let type = behaviors[worker.behavior] else { continue }
            try await boot(type, worker, node)
        }
    }

    private func boot<B: DurableBehavior>(_ type: B.Type, _ worker: Worker, _ node: Calf.Node) async throws {
        _ = try await node.ensureDurable(try decode(type, worker), name: worker.name)
    }
}
