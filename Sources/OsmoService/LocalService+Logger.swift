import FoundationEssentials
import Hummingbird
import HummingbirdWebSocket
import NIOCore
import OsmoNet
import OsmoSystem

extension LocalService {
    /// `/api/logger/workflow/{wf}/osmo_ctrl/{task}/retry_id/{retry}` (token required).
    func addLoggerRoute(_ sockets: Router<ServiceRequestContext>) {
        sockets.ws("/api/logger/workflow/{workflow}/osmo_ctrl/{task}/retry_id/{retry}") { request, _ in
            self.authorized(request.headers) ? .upgrade([:]) : .dontUpgrade
        } onUpgrade: { inbound, outbound, context in
            let workflow = try context.requestContext.parameters.require("workflow")
            let task = try context.requestContext.parameters.require("task")
            self.state.stats.withLock { $0.connections += 1 }
            self.state.knownTasks.withLock { _ = $0.insert("\(workflow)/\(task)") }
            let queue = self.state.queue(workflow, task)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.deliverActions(queue, outbound) }
                group.addTask { try await self.receiveLogs(workflow, task, inbound, outbound) }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
    }

    /// Queued actions go out as BINARY frames: the reference ctrl reads actions only from those
    /// (the real service sends TEXT, which ours accepts as well). Returns when a newer connection
    /// of the same task took the queue over, which ends this one.
    private func deliverActions(_ queue: ActionQueue, _ outbound: WebSocketOutboundWriter) async throws {
        let owner = queue.claim()
        while true {
            guard let actions = await queue.take(owner) else {
                try Task.checkCancellation()
                return
            }
            for (index, action) in actions.enumerated() {
                do {
                    try await outbound.write(.binary(ByteBuffer(string: action)))
                } catch {
                    queue.putBack(Array(actions[index...]))
                    throw error
                }
            }
        }
    }

    private func receiveLogs(_ workflow: String, _ task: String, _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter) async throws {
        let taskKey = "\(workflow)/\(task)"
        // Looked up once per connection, not per line.
        let sequence = state.seqCell(taskKey) { store.storedSeq(workflow, task) }
        let file = store.taskFile(workflow, task)
        for try await message in inbound.messages(maxSize: 1 << 22) {
            let text: String
            switch message {
            case .text(let string): text = string
            case .binary(let buffer): text = String(buffer: buffer)
            }
            guard let object = JSONString.unquote(Substring(text).utf8) ?? Self.slowUnquote(text) else {
                print("osmo service: \(taskKey): ignoring a frame that is not a JSON string (\(text.utf8.count) bytes)")
                continue
            }
            switch JSONString.field("IOType", in: object) ?? "" {
            case "LOG_DONE":
                // Acknowledge only what is stored: otherwise end the connection, and ctrl sends
                // everything unacknowledged again.
                guard store.flush(workflow, task) else {
                    print("osmo service: \(taskKey): cannot write the task's log under \(store.directory); closing the connection so ctrl resends")
                    try? await outbound.close(.unexpectedServerError, reason: "log store failed")
                    return
                }
                try await outbound.write(.text("{\"action\": \"log_done\"}"))
            case "BARRIER":
                let name = JSONString.field("Name", in: object).map(String.init) ?? ""
                let count = JSONString.integer("Count", in: object) ?? -1
                if let members = state.join(barrier: name, workflow: workflow, task: task, count: count) {
                    for member in members { state.queue(workflow, member).push("{\"action\": \"barrier\"}") }
                }
            case "METRICS":
                store.metric(workflow, object: object)
            default:
                if let seq = JSONString.integer("Seq", in: object), seq > 0, !sequence.accept(seq) {
                    state.stats.withLock { $0.duplicatesDropped += 1 }
                    continue
                }
                state.stats.withLock { $0.linesStored += 1 }
                store.log(file, task, object: object, time: JSONString.field("Time", in: object), text: Self.text(of: object))
            }
        }
    }

    static func slowUnquote(_ text: String) -> String? {
        try? JSONDecoder().decode(String.self, from: Data(text.utf8))
    }

    static func text(of object: String) -> String? {
        struct Record: Decodable { var Text: String? }
        return (try? JSONDecoder().decode(Record.self, from: Data(object.utf8)))?.Text
    }
}
