package dev.mtproto

import dev.mtproto.testing.TestApi
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Tag
import org.junit.jupiter.api.Test
import java.io.File
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Semaphore
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong

/**
 * Throughput of the Kotlin bindings, run by scripts/bench-kotlin.sh only
 * (tag `bench`, excluded from the normal test run; each class in its own
 * JVM, since JNA fixes a callback's thread policy when it first wraps it).
 * Against the localdc the script started, it measures:
 *  - pipelined 64 B echo from `window` coroutines (suspend invoke),
 *  - the same with the callback form (one foreign call per completion),
 *  - the update listener's dispatch rate on a test.pushUpdates stream,
 *  - the pull form (nextUpdates from a JVM thread) on the same stream.
 * [BenchJnaDefault] leaves JNA's default (attach and detach the native
 * thread around every call); [BenchKeptAttached] calls
 * MtprotoJvm.keepCallbackThreadsAttached() first. The script prints the
 * Rust figures of the same run next to these.
 */
abstract class Bench(private val mode: String) {
    private val address = requiredProperty("mtproto.benchAddress")
    private val pem = File(requiredProperty("mtproto.benchPem")).readText()
    private val requests = System.getProperty("mtproto.benchRequests", "50000").toInt()
    private val window = System.getProperty("mtproto.benchWindow", "2048").toInt()
    private val updates = System.getProperty("mtproto.benchUpdates", "100000").toInt()
    private val out = File(requiredProperty("mtproto.benchOut"))

    private fun report(line: String) {
        println(line)
        out.appendText("kotlin, $mode: $line\n")
    }

    private fun session(runtime: Runtime) = runtime.openSession(
        SessionConfig(
            address = address, dcId = 2, publicKeyPem = pem, requestTimeoutMs = 120_000u,
            maxBufferedUpdates = (updates * 2).toUInt(),
        ),
    )

    private val body = TestApi.echo(ByteArray(64 - 8) { 1 }) // 64 B on the wire, as mtproto-load

    /** `window` coroutines, each invoking echo until `n` are done. */
    private fun invokeRate(s: Session, n: Int): Double = runBlocking(Dispatchers.Default) {
        val left = AtomicInteger(n)
        val started = System.nanoTime()
        (0 until window).map {
            async {
                while (left.getAndDecrement() > 0) {
                    check(s.invoke(body).size == 64)
                }
            }
        }.awaitAll()
        n / ((System.nanoTime() - started) / 1e9)
    }

    /** At most `window` callback-form requests in flight until `n` are done. */
    private fun callbackRate(s: Session, n: Int): Double {
        val slots = Semaphore(window)
        val done = CountDownLatch(n)
        val failed = AtomicInteger()
        val cb = object : InvokeCallback {
            override fun onSuccess(result: ByteArray) { slots.release(); done.countDown() }
            override fun onFailure(error: MtprotoException) { failed.incrementAndGet(); slots.release(); done.countDown() }
        }
        val started = System.nanoTime()
        repeat(n) {
            check(slots.tryAcquire(60, TimeUnit.SECONDS))
            s.invokeWithCallback(body, 60_000u, cb)
        }
        check(done.await(120, TimeUnit.SECONDS))
        check(failed.get() == 0) { "${failed.get()} callback requests failed" }
        return n / ((System.nanoTime() - started) / 1e9)
    }

    private class Dispatch(val rate: Double, val calls: Int, val nanosInListener: Long)

    /** Pushes `count` updates and times them until the listener saw the last. */
    private fun listenerRate(s: Session, count: Int): Dispatch {
        val seen = AtomicInteger()
        val calls = AtomicInteger()
        val inListener = AtomicLong()
        val done = CountDownLatch(1)
        s.setUpdateListener(object : UpdateListener {
            override fun onUpdates(batch: List<ByteArray>) {
                val t = System.nanoTime()
                calls.incrementAndGet()
                if (seen.addAndGet(batch.size) >= count) done.countDown()
                inListener.addAndGet(System.nanoTime() - t)
            }
        })
        val started = System.nanoTime()
        runBlocking { check(TestApi.isTrue(s.invoke(TestApi.pushUpdates(count, 16)))) }
        check(done.await(300, TimeUnit.SECONDS)) { "only ${seen.get()} of $count updates" }
        val secs = (System.nanoTime() - started) / 1e9
        s.clearUpdateListener()
        return Dispatch(count / secs, calls.get(), inListener.get())
    }

    /** The same stream pulled by this JVM thread with nextUpdates. */
    private fun pullRate(s: Session, count: Int): Pair<Double, Int> {
        var got = 0
        var calls = 0
        val started = System.nanoTime()
        runBlocking { check(TestApi.isTrue(s.invoke(TestApi.pushUpdates(count, 16)))) }
        while (got < count) {
            val batch = s.nextUpdates(4096u, 10_000u)
            check(batch.isNotEmpty()) { "no update within 10 s after $got" }
            got += batch.size
            calls++
        }
        return count / ((System.nanoTime() - started) / 1e9) to calls
    }

    protected fun run() {
        val runtime = Runtime()
        val s = session(runtime)
        runBlocking { s.invoke(TestApi.echo(byteArrayOf(1))) } // key exchange
        // Warm-up of the JIT and the server's buffers, every path.
        invokeRate(s, 20_000)
        callbackRate(s, 20_000)
        listenerRate(s, 20_000)

        // Best of three: the machine is shared, and a run is short.
        report("invoke, %d coroutines: %.0f req/s".format(window, (1..3).maxOf { invokeRate(s, requests) }))
        report("invokeWithCallback, window %d: %.0f req/s".format(window, (1..3).maxOf { callbackRate(s, requests) }))
        val d = (1..3).map { listenerRate(s, updates) }.maxBy { it.rate }
        report(
            "update listener: %.0f updates/s, %d calls, %.1f updates/call, %.1f us/call inside the listener"
                .format(d.rate, d.calls, updates.toDouble() / d.calls, d.nanosInListener / 1e3 / d.calls),
        )
        val (pull, calls) = (1..3).map { pullRate(s, updates) }.maxBy { it.first }
        report("nextUpdates pull: %.0f updates/s, %d calls".format(pull, calls))
        // What one exported call costs through the generated JNA code, with
        // no argument or result to convert (Session.id): the floor under
        // every figure above.
        val n = 100_000
        repeat(n) { s.id() }
        val t = System.nanoTime()
        repeat(n) { s.id() }
        report("one trivial call (Session.id): %.2f us".format((System.nanoTime() - t) / 1e3 / n))
        s.shutdown()
        runtime.shutdown()
    }
}

@Tag("bench")
class BenchJnaDefault : Bench("JNA default") {
    @Test
    fun throughput() = run()
}

@Tag("bench")
class BenchKeptAttached : Bench("kept attached") {
    @Test
    fun throughput() {
        MtprotoJvm.keepCallbackThreadsAttached() // before the library's first use
        run()
    }
}
