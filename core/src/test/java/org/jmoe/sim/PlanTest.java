package org.jmoe.sim;

import org.jmoe.JmoeException;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PlanTest {
    static final ModelProfile PANGU = ModelProfiles.load("pangu-pro-moe");

    @Test
    void parsesThePanguInferenceLayout() {
        Plan p = Plan.parse("attn=dp2xtp4,experts=tp2xep4,shared=tp8", 8, "4 cards x 2 dies", PANGU);
        assertThat(p.attn()).isEqualTo(new Plan.Part(2, 4, 1, 1));
        assertThat(p.experts()).isEqualTo(new Plan.Part(1, 2, 4, 1));
        assertThat(p.shared()).isEqualTo(new Plan.Part(1, 8, 1, 1));
        assertThat(p.text()).isEqualTo("attn=dp2xtp4,experts=tp2xep4,shared=tp8");
        // left-out parts: shared follows attention, experts take ep over the stage; pp is shared by every part
        Plan q = Plan.parse("attn=tp2xpp2", 4, "4 cards", PANGU);
        assertThat(q.pp()).isEqualTo(2);
        assertThat(q.experts()).isEqualTo(new Plan.Part(1, 1, 2, 2));
        assertThat(q.shared()).isEqualTo(q.attn());
        assertThat(Plan.defaultFor(4, PANGU).text()).isEqualTo("attn=dp4,experts=ep4,shared=dp4");
    }

    @Test
    void degreeMismatchIsAOneLineErrorNamingThePlan() {
        assertThatThrownBy(() -> Plan.parse("attn=dp2xtp4,experts=tp2xep4,shared=tp8", 4, "4 cards x 1 die", PANGU))
                .isInstanceOf(JmoeException.class)
                .hasMessage("--plan: plan 'attn=dp2xtp4,experts=tp2xep4,shared=tp8': attn degrees dp2xtp4 multiply to 8, not the 4 devices (4 cards x 1 die)")
                .hasMessageNotContaining("\n");
        for (String bad : new String[]{"attn=dp2x", "attn=xx4", "attn=dp2,mlp=tp2", "attn=dp4,experts=ep3xdp1", "attn=ep4",
                "attn=dp2xpp2,experts=ep2xpp1x", "attn=dp4,attn=dp4", "experts=ep4", "attn=dp4,experts=tp4xpp2"}) {
            assertThatThrownBy(() -> Plan.parse(bad, 4, "4 cards", PANGU)).as(bad).isInstanceOf(JmoeException.class)
                    .hasMessageStartingWith("--plan: plan '" + bad + "'");
        }
    }
}
