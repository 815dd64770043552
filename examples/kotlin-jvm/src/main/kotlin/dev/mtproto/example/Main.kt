// Connects to a data center (a mtproto-localdc), invokes test.echo from a
// coroutine, receives pushed updates through the listener, and closes.
//
//   java -Djna.library.path=target/release -cp ... dev.mtproto.example.MainKt \
//        127.0.0.1:PORT path/to/localdc.pub.pem [UPDATES]
package dev.mtproto.example

import dev.mtproto.MtprotoException
import dev.mtproto.MtprotoJvm
import dev.mtproto.Runtime
import dev.mtproto.SessionConfig
import dev.mtproto.SessionState
import dev.mtproto.StateListener
import dev.mtproto.UpdateListener
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import java.io.File
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.system.exitProcess

fun main(args: Array<String>) {
    if (args.size !in 2..3) {
        System.err.println("usage: kotlin-jvm-example ADDRESS PUBLIC_KEY_PEM_FILE [UPDATES]")
        exitProcess(2)
    }
    val address = args[0]
    val pem = File(args[1]).readText()
    val wanted = args.getOrNull(2)?.toInt() ?: 5

    // Listener calls come from one native dispatcher thread; keep it
    // attached to the JVM instead of attaching it for every batch.
    MtprotoJvm.keepCallbackThreadsAttached()
    val runtime = Runtime()
    val session = runtime.openSession(
        SessionConfig(address = address, dcId = 2, publicKeyPem = pem, requestTimeoutMs = 10_000u),
    )
    session.setStateListener(object : StateListener {
        override fun onState(state: SessionState) = println("state: ${describe(state)}")
    })
    val received = CountDownLatch(wanted)
    session.setUpdateListener(object : UpdateListener {
        override fun onUpdates(batch: List<ByteArray>) {
            for (update in batch) {
                val (seq, data) = TestApi.update(update)
                println("update seq=$seq (${data.size} bytes) on ${Thread.currentThread().name}")
                received.countDown()
            }
        }
    })

    val ok = try {
        runBlocking {
            withTimeout(30_000) {
                val started = System.nanoTime()
                val reply = session.invoke(TestApi.echo("hello from Kotlin".toByteArray()))
                val ms = (System.nanoTime() - started) / 1e6
                println("echo: \"${String(TestApi.payload(reply))}\" in %.1f ms (key exchange included)".format(ms))

                val again = System.nanoTime()
                session.invoke(TestApi.echo(byteArrayOf(1, 2, 3, 4)))
                println("second echo in %.2f ms".format((System.nanoTime() - again) / 1e6))

                session.invoke(TestApi.pushUpdates(wanted, 16))
                println("asked the server to push $wanted updates")
            }
        }
        received.await(10, TimeUnit.SECONDS).also {
            println(if (it) "received all $wanted updates" else "missing ${received.count} updates")
        }
    } catch (e: MtprotoException) {
        System.err.println("failed: ${e::class.simpleName}: ${e.message}")
        false
    } finally {
        session.shutdown()
        runtime.shutdown()
        println("closed")
    }
    exitProcess(if (ok) 0 else 1)
}

fun describe(state: SessionState): String = when (state) {
    is SessionState.WaitingToReconnect -> "WaitingToReconnect(${state.delayMs} ms)"
    else -> state.javaClass.simpleName
}

/**
 * Hand serialization of the three localdc test calls used here
 * (localdc/test.tl): little-endian ids and ints, TL `bytes`.
 */
object TestApi {
    private fun le(v: Int) = byteArrayOf(v.toByte(), (v shr 8).toByte(), (v shr 16).toByte(), (v shr 24).toByte())

    private fun tlBytes(b: ByteArray): ByteArray {
        val head = if (b.size < 254) byteArrayOf(b.size.toByte()) else byteArrayOf(254.toByte()) + le(b.size).copyOf(3)
        val pad = (4 - (head.size + b.size) % 4) % 4
        return head + b + ByteArray(pad)
    }

    private fun int(b: ByteArray, at: Int) =
        (b[at].toInt() and 0xff) or ((b[at + 1].toInt() and 0xff) shl 8) or
            ((b[at + 2].toInt() and 0xff) shl 16) or ((b[at + 3].toInt() and 0xff) shl 24)

    private fun readBytes(b: ByteArray, at: Int): ByteArray {
        val first = b[at].toInt() and 0xff
        return if (first < 254) b.copyOfRange(at + 1, at + 1 + first)
        else b.copyOfRange(at + 4, at + 4 + (int(b, at) ushr 8))
    }

    fun echo(payload: ByteArray) = le(0x8f5c7b19.toInt()) + tlBytes(payload)
    fun pushUpdates(count: Int, size: Int) = le(0x0e841a3c) + le(count) + le(size)

    fun payload(reply: ByteArray): ByteArray {
        check(int(reply, 0) == 0xb750c89e.toInt()) { "not a test.payload" }
        return readBytes(reply, 4)
    }

    fun update(u: ByteArray): Pair<Int, ByteArray> {
        check(int(u, 0) == 0x953f0002.toInt()) { "not a test.update" }
        return int(u, 4) to readBytes(u, 8)
    }
}
