package org.jmoe.moe;

import org.jmoe.JmoeException;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RouterSpecTest {
    @Test
    void parsesNameAndParametersKeepingTheTextAsGiven() {
        RouterSpec s = RouterSpec.parse("deepseek:groups=8:topk_groups=4", "--router");
        assertThat(s.name()).isEqualTo("deepseek");
        assertThat(s.text()).isEqualTo("deepseek:groups=8:topk_groups=4");
        assertThat(s.getInt("groups", 0)).isEqualTo(8);
        assertThat(s.getInt("topk_groups", 0)).isEqualTo(4);
        assertThat(s.getInt("k", 7)).isEqualTo(7);
        assertThat(s.params().keySet()).containsExactly("groups", "topk_groups");
    }

    @Test
    void parsesLists() {
        List<RouterSpec> l = RouterSpec.parseList("native,topk:k=4,moge:groups=4", "--routers");
        assertThat(l).extracting(RouterSpec::text).containsExactly("native", "topk:k=4", "moge:groups=4");
    }

    @Test
    void typedGettersAndUnknownKeysFailNamingTheSpec() {
        RouterSpec s = RouterSpec.parse("topk:k=four:norm=maybe", "--router");
        assertThatThrownBy(() -> s.getInt("k", 1)).isInstanceOf(JmoeException.class).hasMessageContaining("topk:k=four").hasMessageContaining("integer");
        assertThatThrownBy(() -> s.getBool("norm", true)).hasMessageContaining("true or false");
        assertThatThrownBy(() -> RouterSpec.parse("topk:kk=4", "--router").requireKnownKeys(Set.of("k")))
                .hasMessageContaining("unknown parameter 'kk'").hasMessageContaining("known: k");
    }

    @Test
    void rejectsMalformedSpecs() {
        for (String bad : new String[]{"", "  ", "bogus", "topk:k", "topk:=3", "topk:k=", "topk:k=1:k=2", "native,,topk"}) {
            assertThatThrownBy(() -> RouterSpec.parseList(bad, "--router")).as(bad).isInstanceOf(JmoeException.class).hasMessageStartingWith("--router:");
        }
    }

    @Test
    void placementsMapExpertsToDevicesAndNodes() {
        Placement c = Placement.contiguous(64, 8, 2);
        for (int e = 0; e < 64; e++) {
            assertThat(c.device(e)).isEqualTo(e / 8);
            assertThat(c.nodeOfExpert(e)).isEqualTo(e / 32);
        }
        Placement r = Placement.roundRobin(64, 8, 2);
        for (int e = 0; e < 64; e++) assertThat(r.device(e)).isEqualTo(e % 8);
        assertThat(r.expertsOn(3)).containsExactly(3, 11, 19, 27, 35, 43, 51, 59);
        // Uneven split: every device gets floor or ceil of E/D experts, in order.
        Placement u = Placement.contiguous(10, 4, 1);
        int[] per = new int[4];
        for (int e = 0; e < 10; e++) per[u.device(e)]++;
        assertThat(per).containsExactly(3, 2, 3, 2);
        assertThatThrownBy(() -> Placement.contiguous(8, 4, 3)).hasMessageContaining("do not divide");
        assertThatThrownBy(() -> Placement.named("random", 8, 4, 1)).hasMessageContaining("unknown placement");
    }
}
