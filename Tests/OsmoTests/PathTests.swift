import OsmoSystem
import Testing

@Suite struct PathTests {
    @Test(arguments: [
        ("/a/b/c", "c", "/a/b"), ("/a/b/", "b", "/a"), ("c", "c", "."), ("/c", "c", "/"), ("/", "/", "/"),
    ])
    func basenameAndParent(path: String, base: String, parent: String) {
        #expect(Path.basename(path) == base)
        #expect(Path.parent(path) == parent)
    }

    @Test func join() {
        #expect(Path.join("/a", "b", "c") == "/a/b/c")
        #expect(Path.join("/a/", "b") == "/a/b")
        #expect(Path.join("/a", "/abs") == "/abs")
        #expect(Path.join("a", "") == "a")
    }
}
