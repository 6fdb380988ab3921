/// Tarjan's strongly connected components, for finding every cycle of a
/// graph's dependencies at once.
enum StronglyConnected {
    /// The components of the graph over `nodes` (each node's `successors`),
    /// each a list of its nodes; iterative, so a long chain cannot overflow the stack.
    static func components(of nodes: [String], successors: (String) -> [String]) -> [[String]] {
        var index: [String: Int] = [:]
        var lowLink: [String: Int] = [:]
        var onStack: Set<String> = []
        var stack: [String] = []
        var result: [[String]] = []
        var next = 0
        for start in nodes where index[start] == nil {
            // Each frame: a node and how many of its successors were looked at.
            var frames: [(node: String, seen: Int)] = [(start, 0)]
            index[start] = next
            lowLink[start] = next
            next += 1
            stack.append(start)
            onStack.insert(start)
            while let (node, seen) = frames.last {
                let following = successors(node)
                if seen < following.count {
                    frames[frames.count - 1].seen += 1
                    let successor = following[seen]
                    if index[successor] == nil {
                        index[successor] = next
                        lowLink[successor] = next
                        next += 1
                        stack.append(successor)
                        onStack.insert(successor)
                        frames.append((successor, 0))
                    } else if onStack.contains(successor) {
                        lowLink[node] = min(lowLink[node] ?? 0, index[successor] ?? 0)
                    }
                    continue
                }
                frames.removeLast()
                if let parent = frames.last?.node { lowLink[parent] = min(lowLink[parent] ?? 0, lowLink[node] ?? 0) }
                guard lowLink[node] == index[node] else { continue }
                var component: [String] = []
                while let top = stack.popLast() {
                    onStack.remove(top)
                    component.append(top)
                    if top == node { break }
                }
                result.append(component.reversed())
            }
        }
        return result
    }

    /// A cycle from `start` back to it through `members` (a component with
    /// a cycle through `start`): the shortest, as its nodes with `start` at both ends.
    static func cycle(from start: String, within members: Set<String>, successors: (String) -> [String]) -> [String] {
        var cameFrom: [String: String] = [:]
        var queue = [start]
        var head = 0
        while head < queue.count {
            let node = queue[head]
            head += 1
            for successor in successors(node) where members.contains(successor) {
                if successor == start {
                    var path: [String] = []
                    var at: String? = node
                    while let current = at, current != start {
                        path.append(current)
                        at = cameFrom[current]
                    }
                    return [start] + path.reversed() + [start]
                }
                if cameFrom[successor] == nil {
                    cameFrom[successor] = node
                    queue.append(successor)
                }
            }
        }
        return [start, start]
    }
}
