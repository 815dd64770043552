package dev.mtproto

import dev.mtproto.testing.TestApi
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import java.io.File
import java.util.Collections
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CountDownLatch
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/**
 * The Kotlin bindings against a real mtproto-localdc child process over
 * loopback: every test opens its own session on one shared runtime.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SessionTest {
    private lateinit var dc: LocalDcProcess
    private lateinit var runtime: Runtime

    @BeforeAll
    fun start() {
        MtprotoJvm.keepCallbackThreadsAttached()
        dc = LocalDcProcess.start()
        runtime = Runtime()
    }

    @AfterAll
    fun stop() {
        runtime.shutdown()
        assertTrue(runtime.isClosed())
        runtime.close()
        dc.close()
    }

    private fun open(requestTimeoutMs: ULong = 10_000u): Session = runtime.openSession(testConfig(dc, requestTimeoutMs))

    private fun Session.withSession(block: suspend kotlinx.coroutines.CoroutineScope.(Session) -> Unit) = try {
        runBlocking { withTimeout(60_000) { block(this@withSession) } }
    } finally {
        shutdown()
        close()
    }

    private suspend fun Session.cancelledCount(): Long = TestApi.count(invoke(TestApi.cancelledCount()))

    @Test
    fun `invoke echoes the payload in every call form`() = open().withSession { s ->
        val payload = ByteArray(300) { it.toByte() } // long TL-string form
        assertArrayEquals(payload, TestApi.payload(s.invoke(TestApi.echo(payload))))
        assertArrayEquals(payload, TestApi.payload(s.invokeWithTimeout(TestApi.echo(payload), 5_000u)))
        val blocking = CompletableFuture.supplyAsync { s.invokeBlocking(TestApi.echo(byteArrayOf(7)), 5_000u) }
        assertArrayEquals(byteArrayOf(7), TestApi.payload(blocking.get(10, TimeUnit.SECONDS)))

        val done = CompletableFuture<ByteArray>()
        val id = s.invokeWithCallback(TestApi.echo(byteArrayOf(1, 2, 3)), 5_000u, object : InvokeCallback {
            override fun onSuccess(result: ByteArray) { done.complete(result) }
            override fun onFailure(error: MtprotoException) { done.completeExceptionally(error) }
        })
        assertTrue(id > 0u || id == 0uL)
        assertArrayEquals(byteArrayOf(1, 2, 3), TestApi.payload(done.get(10, TimeUnit.SECONDS)))
        assertEquals(0uL, s.listenerFailures())
    }

    @Test
    fun `a thousand concurrent coroutines each get their own answer`() = open().withSession { s ->
        val n = 1_000
        val replies = (0 until n).map { i ->
            async(Dispatchers.Default) { i to s.invoke(TestApi.echo("request $i".toByteArray())) }
        }.awaitAll()
        assertEquals(n, replies.size)
        for ((i, reply) in replies) {
            assertEquals("request $i", String(TestApi.payload(reply)))
        }
    }

    @Test
    fun `pushed updates reach the listener exactly once, in order, on one attached dispatcher thread`() = open().withSession { s ->
        val count = 2_000
        val seqs = Collections.synchronizedList(mutableListOf<Int>())
        val threads = Collections.synchronizedSet(mutableSetOf<Thread>())
        val batches = java.util.concurrent.atomic.AtomicInteger()
        val all = CountDownLatch(count)
        s.setUpdateListener(object : UpdateListener {
            override fun onUpdates(batch: List<ByteArray>) {
                threads.add(Thread.currentThread())
                batches.incrementAndGet()
                for (u in batch) {
                    val (seq, data) = TestApi.update(u)
                    assertEquals(16, data.size)
                    seqs.add(seq)
                    all.countDown()
                }
            }
        })
        assertTrue(TestApi.isTrue(s.invoke(TestApi.pushUpdates(count, 16))))
        assertTrue(all.await(30, TimeUnit.SECONDS), "only ${seqs.size} of $count updates arrived")
        delay(200) // a duplicate would arrive now
        assertEquals((1..count).toList(), seqs.toList())
        assertEquals(1, threads.size, "batches came from ${threads.map { it.name }}")
        assertEquals("mtproto-dispatch", threads.first().name)
        assertTrue(batches.get() <= count)
        assertEquals(0uL, s.listenerFailures())
    }

    @Test
    fun `a forgotten server session puts the gap marker in the stream, for the listener and for pulls`() {
        open().withSession { s ->
            val got = Collections.synchronizedList(mutableListOf<ByteArray>())
            val four = CountDownLatch(4)
            s.setUpdateListener(object : UpdateListener {
                override fun onUpdates(batch: List<ByteArray>) {
                    for (u in batch) { got.add(u); four.countDown() }
                }
            })
            s.invoke(TestApi.pushUpdates(2, 4))
            s.invoke(TestApi.forgetSession())
            s.invoke(TestApi.pushUpdates(1, 4))
            assertTrue(four.await(20, TimeUnit.SECONDS), "only ${got.size} arrived")
            assertTrue(got[2].contentEquals(gapMarker()), "the third is the marker")
            assertEquals(listOf(1, 2, 1), listOf(got[0], got[1], got[3]).map { TestApi.update(it).first })
        }
        open().withSession { s ->
            s.invoke(TestApi.echo(byteArrayOf(1)))
            s.invoke(TestApi.forgetSession())
            s.invoke(TestApi.pushUpdates(1, 4))
            val pulled = mutableListOf<ByteArray>()
            val deadline = System.nanoTime() + 20_000_000_000L
            while (pulled.size < 2 && System.nanoTime() < deadline) pulled.addAll(s.nextUpdates(8u, 1_000u))
            assertTrue(pulled[0].contentEquals(gapMarker()))
            assertEquals(1, TestApi.update(pulled[1]).first)
        }
    }

    @Test
    fun `cuts after the query ran and after its answer left still run it once`() = open().withSession { s ->
        for ((i, cut) in listOf(TestApi.Cut.AFTER_RUN, TestApi.Cut.AFTER_ANSWER).withIndex()) {
            val key = "kt-cut-$i-${System.nanoTime()}"
            assertEquals(1L, TestApi.count(s.invoke(TestApi.counterSlow(key, 50 * i, cut))))
        }
    }

    @Test
    fun `the record's defaults are the core's`() {
        val c = SessionConfig(address = "127.0.0.1:1", dcId = 2, publicKeyPem = "")
        val core = sessionDefaults()
        assertEquals(core.connectTimeoutMs, c.connectTimeoutMs)
        assertEquals(core.requestTimeoutMs, c.requestTimeoutMs)
        assertEquals(core.maxBufferedUpdates, c.maxBufferedUpdates)
    }

    @Test
    fun `updates can be pulled in batches when no listener is set`() = open().withSession { s ->
        assertTrue(TestApi.isTrue(s.invoke(TestApi.pushUpdates(300, 8))))
        val seqs = mutableListOf<Int>()
        val deadline = System.nanoTime() + 20_000_000_000L
        while (seqs.size < 300 && System.nanoTime() < deadline) {
            for (u in s.nextUpdates(128u, 1_000u)) seqs.add(TestApi.update(u).first)
        }
        assertEquals((1..300).toList(), seqs)
        assertTrue(s.nextUpdates(10u, 100u).isEmpty(), "nothing more was pushed")
        assertThrows<MtprotoException.InvalidInput> { s.nextUpdates(0u, 100u) }
    }

    @Test
    fun `an rpc error carries the server's code and message`() = open().withSession { s ->
        val e = assertThrows<MtprotoException.Rpc> { runBlocking { s.invoke(TestApi.error(420, "FLOOD_WAIT_7")) } }
        assertEquals(420, e.code)
        assertEquals("FLOOD_WAIT_7", e.errorMessage)
        // The callback form gets the same typed error.
        val failed = CompletableFuture<MtprotoException>()
        s.invokeWithCallback(TestApi.error(400, "BAD_REQUEST"), 5_000u, object : InvokeCallback {
            override fun onSuccess(result: ByteArray) { failed.completeExceptionally(AssertionError("no error")) }
            override fun onFailure(error: MtprotoException) { failed.complete(error) }
        })
        val cb = failed.get(10, TimeUnit.SECONDS) as MtprotoException.Rpc
        assertEquals(400, cb.code)
        assertEquals("BAD_REQUEST", cb.errorMessage)
    }

    @Test
    fun `bad input is refused with InvalidInput, and the session goes on`() = open().withSession { s ->
        assertThrows<MtprotoException.InvalidInput> { runBlocking { s.invoke(byteArrayOf(1, 2, 3)) } }
        assertThrows<MtprotoException.InvalidInput> { runBlocking { s.invoke(ByteArray(6)) } }
        assertThrows<MtprotoException.InvalidInput> { s.invokeBlocking(TestApi.echo(byteArrayOf(1)), 0u) }
        // A refused callback request answers on the calling thread, at once.
        val refused = CompletableFuture<MtprotoException>()
        s.invokeWithCallback(ByteArray(2), 1_000u, object : InvokeCallback {
            override fun onSuccess(result: ByteArray) {}
            override fun onFailure(error: MtprotoException) { refused.complete(error) }
        })
        assertTrue(refused.getNow(null) is MtprotoException.InvalidInput)

        for (bad in listOf(
            testConfig(dc).copy(address = "not an address"),
            testConfig(dc).copy(dcId = 0),
            testConfig(dc).copy(publicKeyPem = "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n"),
            testConfig(dc).copy(connectTimeoutMs = 0u),
            testConfig(dc).copy(transport = Transport.FULL, obfuscated = true),
        )) {
            assertThrows<MtprotoException.InvalidInput>("$bad") { runtime.openSession(bad) }
        }
        assertArrayEquals(byteArrayOf(5), TestApi.payload(s.invoke(TestApi.echo(byteArrayOf(5)))))
    }

    @Test
    fun `a request without an answer in time fails with Timeout`() = open().withSession { s ->
        val started = System.nanoTime()
        assertThrows<MtprotoException.Timeout> { runBlocking { s.invokeWithTimeout(TestApi.sleep(5_000), 300u) } }
        assertTrue(System.nanoTime() - started < 4_900_000_000L, "ended before the server's answer")
        assertThrows<MtprotoException.Timeout> { s.invokeBlocking(TestApi.sleep(5_000), 300u) }
    }

    @Test
    fun `cancelling the coroutine cancels the request on the server`() = open().withSession { s ->
        val before = s.cancelledCount()
        val job = launch(Dispatchers.Default) { s.invoke(TestApi.sleep(20_000)) }
        delay(300) // the request is on the wire
        val started = System.nanoTime()
        job.cancelAndJoin()
        assertTrue(job.isCancelled)
        // Well under the 20 s the call would take (generous: the CI machine is shared).
        assertTrue(System.nanoTime() - started < 5_000_000_000L, "cancellation returned at once")
        // rpc_drop_answer reaches the server: its counter goes up.
        var after = s.cancelledCount()
        val deadline = System.nanoTime() + 10_000_000_000L
        while (after <= before && System.nanoTime() < deadline) {
            delay(50)
            after = s.cancelledCount()
        }
        assertTrue(after > before, "test.cancelledCount stayed at $before")

        // The callback form cancels by id, and the callback hears Cancelled.
        val ended = CompletableFuture<MtprotoException>()
        val id = s.invokeWithCallback(TestApi.sleep(20_000), 30_000u, object : InvokeCallback {
            override fun onSuccess(result: ByteArray) { ended.completeExceptionally(AssertionError("answered")) }
            override fun onFailure(error: MtprotoException) { ended.complete(error) }
        })
        delay(200)
        s.cancel(id)
        assertTrue(ended.get(10, TimeUnit.SECONDS) is MtprotoException.Cancelled)
        // A cancelled coroutine does not disturb the next call.
        assertArrayEquals(byteArrayOf(9), TestApi.payload(s.invoke(TestApi.echo(byteArrayOf(9)))))
    }

    @Test
    fun `closing a session fails its pending calls with Closed`() {
        val s = open(requestTimeoutMs = 30_000u)
        val states = LinkedBlockingQueue<SessionState>()
        s.setStateListener(object : StateListener {
            override fun onState(state: SessionState) { states.add(state) }
        })
        runBlocking {
            withTimeout(60_000) {
                s.invoke(TestApi.echo(byteArrayOf(1))) // connected, key created
                val pending = (0 until 20).map { async(Dispatchers.Default) { runCatching { s.invoke(TestApi.sleep(20_000)) } } }
                delay(300)
                s.shutdown()
                val results = pending.awaitAll()
                for (r in results) {
                    assertTrue(r.exceptionOrNull() is MtprotoException.Closed, "got $r")
                }
                assertTrue(s.isClosed())
                assertThrows<MtprotoException.Closed> { runBlocking { s.invoke(TestApi.echo(byteArrayOf(1))) } }
                assertThrows<MtprotoException.Closed> { s.invokeBlocking(TestApi.echo(byteArrayOf(1)), 1_000u) }
            }
        }
        // The state listener saw the whole life, ending with Closed.
        val seen = mutableListOf<SessionState>()
        while (true) {
            val st = states.poll(5, TimeUnit.SECONDS) ?: break
            seen.add(st)
            if (st == SessionState.Closed) break
        }
        assertEquals(SessionState.Connecting, seen.first(), "$seen")
        assertTrue(SessionState.KeyCreated in seen, "$seen")
        assertTrue(SessionState.Connected in seen, "$seen")
        assertEquals(SessionState.Closed, seen.last(), "$seen")
        s.close()
    }

    @Test
    fun `a listener that throws does not stop delivery or the session`() = open().withSession { s ->
        val seqs = Collections.synchronizedList(mutableListOf<Int>())
        val thrown = java.util.concurrent.atomic.AtomicInteger()
        val all = CountDownLatch(1)
        s.setUpdateListener(object : UpdateListener {
            override fun onUpdates(batch: List<ByteArray>) {
                for (u in batch) seqs.add(TestApi.update(u).first)
                if (seqs.size >= 200) all.countDown()
                thrown.incrementAndGet()
                throw IllegalStateException("listener bug")
            }
        })
        s.setStateListener(object : StateListener {
            override fun onState(state: SessionState) = throw RuntimeException("state listener bug")
        })
        // Pushed in two rounds, so at least two batches (two throws) happen.
        assertTrue(TestApi.isTrue(s.invoke(TestApi.pushUpdates(100, 4))))
        delay(200)
        assertTrue(TestApi.isTrue(s.invoke(TestApi.pushUpdates(100, 4))))
        assertTrue(all.await(20, TimeUnit.SECONDS), "got ${seqs.size} updates")
        assertEquals((1..100).toList() + (1..100).toList(), seqs.toList())
        assertArrayEquals(byteArrayOf(4), TestApi.payload(s.invoke(TestApi.echo(byteArrayOf(4)))))
        // Every throw reached Rust as an error, was counted, and delivery went on.
        assertTrue(thrown.get() >= 2)
        assertTrue(s.listenerFailures() >= thrown.get().toULong(), "failures ${s.listenerFailures()} < throws $thrown")
        // The runtime is fine too: a new session works.
        val other = open()
        try {
            assertArrayEquals(byteArrayOf(6), TestApi.payload(other.invoke(TestApi.echo(byteArrayOf(6)))))
        } finally {
            other.shutdown()
        }
    }

    @Test
    fun `the auth key is kept in the SQLite store across sessions`() {
        val db = File(requiredProperty("mtproto.workDir"), "kotlin-store-${System.nanoTime()}.db")
        val states = listOf(1, 2).map { round ->
            val seen = Collections.synchronizedList(mutableListOf<SessionState>())
            val s = runtime.openSession(testConfig(dc).copy(storePath = db.path))
            s.setStateListener(object : StateListener {
                override fun onState(state: SessionState) { seen.add(state) }
            })
            s.withSession { assertArrayEquals(byteArrayOf(round.toByte()), TestApi.payload(it.invoke(TestApi.echo(byteArrayOf(round.toByte()))))) }
            seen.toList()
        }
        assertTrue(SessionState.KeyCreated in states[0], "${states[0]}")
        assertFalse(SessionState.KeyCreated in states[1], "the second session reused the key: ${states[1]}")
        db.delete()
    }

    @Test
    fun `the schema codec builds requests and reads answers as JSON`() = open().withSession { s ->
        val schema = Schema(File(requiredProperty("mtproto.testTl")).readText())
        assertTrue(schema.size() > 5u)
        val request = schema.encode("""{"_":"test.echo","payload":"AQID"}""")
        assertArrayEquals(TestApi.echo(byteArrayOf(1, 2, 3)), request)
        val reply = s.invoke(request)
        assertEquals("""{"_":"test.payload","data":"AQID"}""", schema.decode(reply))
        assertEquals(
            """{"_":"test.payload","data":"AQID"}""",
            schema.decodeFunctionResult("test.echo", reply),
        )
        assertThrows<MtprotoException.InvalidInput> { schema.encode("{not json") }
        assertThrows<MtprotoException.InvalidInput> { schema.encode("""{"_":"no.such"}""") }
        assertThrows<MtprotoException.InvalidInput> { schema.decode(byteArrayOf(1, 2, 3, 4)) }
        assertThrows<MtprotoException.InvalidInput> { Schema("this is not = TL #") }
        schema.close()
    }

    @Test
    fun `the bundled Telegram schema encodes help getConfig and decodes a config`() {
        val schema = Schema.telegram()
        assertEquals(defaultLayer(), schema.layer())
        assertTrue(defaultLayer() >= 228)
        assertTrue(schema.size() > 2000u)
        assertArrayEquals(byteArrayOf(0x6b, 0x18, 0xf9.toByte(), 0xc4.toByte()), schema.encode("""{"_":"help.getConfig"}"""))
        val ints = listOf(
            "chat_size_max", "megagroup_size_max", "forwarded_count_max", "online_update_period_ms",
            "offline_blur_timeout_ms", "offline_idle_timeout_ms", "online_cloud_timeout_ms",
            "notify_cloud_delay_ms", "notify_default_delay_ms", "push_chat_period_ms", "push_chat_limit",
            "edit_time_limit", "revoke_time_limit", "revoke_pm_time_limit", "rating_e_decay",
            "stickers_recent_limit", "channels_read_media_period", "call_receive_timeout_ms",
            "call_ring_timeout_ms", "call_connect_timeout_ms", "call_packet_timeout_ms",
            "caption_length_max", "message_length_max", "webfile_dc_id",
        ).joinToString(",") { "\"$it\":7" }
        val config = """{"_":"config","date":1700000000,"expires":1700003600,"test_mode":false,""" +
            """"this_dc":2,"dc_options":[{"_":"dcOption","id":2,"ip_address":"149.154.167.50","port":443}],""" +
            """"dc_txt_domain_name":"apv3.stel.com","me_url_prefix":"https://t.me/",$ints}"""
        val bytes = schema.encode(config)
        val decoded = schema.decodeFunctionResult("help.getConfig", bytes)
        assertTrue(decoded.contains(""""ip_address":"149.154.167.50""""), decoded)
        assertTrue(decoded.contains(""""me_url_prefix":"https://t.me/""""), decoded)
        assertArrayEquals(bytes, schema.encode(decoded))
        val extended = Schema.telegramWith(listOf("---functions---\nextra.only#1a2b3c4e = Bool;"))
        extended.encode("""{"_":"extra.only"}""")
        assertThrows<MtprotoException.InvalidInput> { Schema.telegram().encode("""{"_":"extra.only"}""") }
        extended.close()
        schema.close()
    }

    @Test
    fun `core log records reach a log listener`() {
        val records = Collections.synchronizedList(mutableListOf<Triple<LogLevel, String, String>>())
        val threads = Collections.synchronizedSet(mutableSetOf<String>())
        setLogListener(LogLevel.TRACE, object : LogListener {
            override fun onLog(level: LogLevel, target: String, message: String) {
                threads.add(Thread.currentThread().name)
                records.add(Triple(level, target, message))
            }
        })
        try {
            open().withSession { assertArrayEquals(byteArrayOf(9), TestApi.payload(it.invoke(TestApi.echo(byteArrayOf(9))))) }
            assertTrue(flushLog(5_000u))
        } finally {
            setLogListener(null, null)
        }
        val ours = records.filter { it.second.startsWith("mtproto::") }
        assertTrue(ours.any { it.first == LogLevel.TRACE && it.third.startsWith("request queued") }, "$ours")
        assertTrue(ours.any { it.first == LogLevel.DEBUG && it.third.startsWith("state") }, "$ours")
        val after = records.size
        open().withSession { it.invoke(TestApi.echo(byteArrayOf(1))) }
        assertTrue(flushLog(5_000u))
        assertEquals(after, records.size, "no records once the listener is cleared")
    }

    @Test
    fun `a closed runtime refuses new sessions`() {
        val rt = Runtime()
        rt.shutdown()
        assertTrue(rt.isClosed())
        assertThrows<MtprotoException.Closed> { rt.openSession(testConfig(dc)) }
        rt.close()
    }
}
