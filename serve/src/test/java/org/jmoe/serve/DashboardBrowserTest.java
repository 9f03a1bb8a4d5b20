package org.jmoe.serve;

import org.jmoe.model.Model;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** The dashboard rendered by headless Chromium after requests ran: the screenshot is a drawn page, not a blank one. */
class DashboardBrowserTest {
    static Path chromium() {
        for (String p : List.of("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")) {
            if (Files.isExecutable(Path.of(p))) return Path.of(p);
        }
        return null;
    }

    @Test
    void theDashboardDrawsLoadsAfterRequests() throws Exception {
        Path browser = chromium();
        if (browser == null) {
            System.err.println("*****************************************************************************");
            System.err.println("* DashboardBrowserTest SKIPPED: no Chromium at /usr/bin/chromium            *");
            System.err.println("* (apt-get install -y chromium; .ci/run installs it)                        *");
            System.err.println("*****************************************************************************");
        }
        Assumptions.assumeTrue(browser != null, "no Chromium found: the dashboard screenshot test needs /usr/bin/chromium");
        try (Model model = TestServers.tinyModel();
             OpenAiServer s = new OpenAiServer(model, null, ServeLimits.defaults(), null, null, null)) {
            int port = s.start("127.0.0.1", 0);
            for (int i = 0; i < 6; i++) {
                assertThat(TestServers.post(port, "/v1/completions", "{\"prompt\":\"Dashboard " + i + "\",\"max_tokens\":24,\"ignore_eos\":true}", null).status())
                        .isEqualTo(200);
            }
            Path dir = Files.createTempDirectory("jmoe-dash");
            Path shot = dir.resolve("dashboard.png");
            List<String> cmd = new ArrayList<>(List.of(browser.toString(), "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                    "--user-data-dir=" + dir.resolve("profile"), "--virtual-time-budget=4000", "--screenshot=" + shot, "--window-size=1200,900",
                    "http://127.0.0.1:" + port + "/dashboard"));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("chromium.log").toFile()).start();
            if (!p.waitFor(90, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("chromium did not finish in 90 s");
            }
            assertThat(shot).as(Files.readString(dir.resolve("chromium.log"))).exists();
            BufferedImage img = ImageIO.read(shot.toFile());
            Set<Integer> colors = new HashSet<>();
            for (int y = 0; y < img.getHeight(); y += 2) for (int x = 0; x < img.getWidth(); x += 2) colors.add(img.getRGB(x, y));
            assertThat(colors.size()).as("distinct colours in the screenshot").isGreaterThan(40);
        }
    }
}
