"""MSCI built in the published configuration on a tiny random-init open_clip model: the structure,
the shapes, the adapter placement, the two-stage residual text update and the inference rule match
the authors' code (github.com/ltpwy/MSCI, model/Mutifuse_new.py), re-derived here by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.msci import MSCI, MSCIConfig, feasibility_scores, threshold_with_feasibility
from engine.msci.model import PARAMETER_GROUPS, layer_split

NAME = "lazlabel-test-msci6"
CFG = {  # six blocks, so "first 3 and last 3" are disjoint as on ViT-L/14; 48 = 12 heads of 4
    "embed_dim": 48,
    "vision_cfg": {"image_size": 32, "layers": 6, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
STATES = ["red", "blue", "dotted"]
OBJECTS = ["circle", "square"]


@pytest.fixture(scope="module")
def clip():
    from engine.models import load_model, register_model_config

    register_model_config(NAME, CFG)
    return load_model(f"random:{NAME}", device="cpu")


@pytest.fixture(scope="module")
def net(clip):
    torch.manual_seed(0)
    return MSCI(clip.model, clip.tokenizer, STATES, OBJECTS, MSCIConfig()).eval()


PAIRS = torch.tensor([[0, 0], [1, 1], [2, 0], [0, 1]])


def test_published_configuration_and_parameter_groups(net):
    cfg = net.config
    assert cfg.prompt_template == ("a photo of x x", "a photo of x", "a photo of x")
    assert (cfg.adapter_dim, cfg.adapter_dropout, cfg.init_lamda) == (64, 0.1, 0.1)
    assert (cfg.selected_low_layers, cfg.selected_high_layers) == (3, 3)
    trainable = {n.split(".")[0] for n, p in net.named_parameters() if p.requires_grad}
    assert trainable == set(PARAMETER_GROUPS)
    assert not any(p.requires_grad for p in net.clip.parameters())
    assert len(net.additional_visual_params) == 2 * 6
    a = net.additional_visual_params[0]
    assert (a.down_proj.in_features, a.down_proj.out_features, a.dropout, a.scale) == (32, 64, 0.1, 0.1)
    assert net.soft_att_obj.shape == (len(STATES) + len(OBJECTS), 32)
    for ctx in (net.comp_ctx_vectors, net.attr_ctx_vectors, net.obj_ctx_vectors):
        assert ctx.shape == (3, 32)  # "a photo of"
    assert torch.equal(net.lamda.detach(), torch.full((48,), 0.1)) and net.lamda_2.shape == (48,)
    assert (net.low_layers, net.high_layers) == ([0, 1, 2], [3, 4, 5])
    assert net.concat_projection_low[0].in_features == 3 * 48 and net.concat_projection_high[0].out_features == 48
    assert len(net.stage1_local_alignment.cross_attn_layers) == 1 == len(net.stage2_global_fusion.cross_attn_layers)
    assert net.stage1_local_alignment.cross_attn_layers[0].cross_attn.num_heads == 12
    # the soft prompt starts as the hard prompt: the same text feature as CLIP's own encode_text
    with torch.no_grad():
        ref = F.normalize(net.clip.encode_text(net.tokenizer(["a photo of red circle", "a photo of blue square"])), dim=-1)
        assert torch.allclose(net.text_features(PAIRS)[0][:2], ref, atol=1e-5)
    # a 4-block tower (the demo model) maps 3 + 3 onto overlapping blocks
    assert layer_split(4, 3, 3) == ([0, 1, 2], [1, 2, 3])


def _authors_encode_image(net: MSCI, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The authors' encode_image_with_adapter, written out against the open_clip modules."""
    v = net.clip.visual
    x = v._embeds(images)
    layers = []
    n = len(v.transformer.resblocks)
    for i, blk in enumerate(v.transformer.resblocks):
        x = x + blk.attention(blk.ln_1(x)) + net.additional_visual_params[i](x)
        x = x + blk.mlp(blk.ln_2(x)) + net.additional_visual_params[i + n](x)
        layers.append(v.ln_post(x) @ v.proj)
    return layers[-1][:, 0, :], layers


def test_adapters_intermediates_and_shapes(net, clip):
    images = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    tokens = net.frozen_tokens(images)
    assert tokens.shape == (5, 17, 32)
    with torch.no_grad():
        # zero-initialised up projections: exactly the frozen CLIP image feature
        img, _, _ = net.encode_image(tokens)
        assert torch.allclose(img, clip.model.encode_image(images), atol=1e-5)
        for a in net.additional_visual_params:  # now make the adapters matter
            a.up_proj.weight.normal_(0, 0.5)
        img, low, high = net.encode_image(tokens)
        ref_img, ref_layers = _authors_encode_image(net, images)
        assert torch.allclose(img, ref_img, atol=1e-5)
        assert not torch.allclose(img, clip.model.encode_image(images), atol=1e-3)
        assert low.shape == high.shape == (5, 17, 48)
        assert torch.allclose(low, net.concat_projection_low(torch.cat(ref_layers[:3], -1)), atol=1e-5)
        assert torch.allclose(high, net.concat_projection_high(torch.cat(ref_layers[3:], -1)), atol=1e-5)
        logits = net(tokens, PAIRS)
    assert [tuple(t.shape) for t in logits] == [(5, 4), (5, 3), (5, 2)]


def test_two_stage_residual_text_update(net):
    tokens = net.frozen_tokens(torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2)))
    seen = {}

    def spy(name, stage):
        def hook(_m, args, out):
            seen[name] = (args[0].detach().clone(), args[1].detach().clone(), out.detach().clone())
        return stage.register_forward_hook(hook)

    hs = [spy("s1", net.stage1_local_alignment), spy("s2", net.stage2_global_fusion)]
    try:
        with torch.no_grad():
            net.lamda.copy_(torch.linspace(0.05, 0.3, 48))
            net.lamda_2.copy_(torch.linspace(0.2, -0.1, 48))
            text = torch.cat(net.text_features(PAIRS))
            _, low, high = net.encode_image(tokens)
            out = net.interact(text, low, high)
    finally:
        for h in hs:
            h.remove()
        with torch.no_grad():
            net.lamda.fill_(0.1)
            net.lamda_2.fill_(0.1)
    q1, kv1, s1 = seen["s1"]
    q2, kv2, s2 = seen["s2"]
    t = text.unsqueeze(0).expand(3, -1, -1)
    assert torch.equal(q1, t) and torch.equal(kv1, low)  # stage 1: text queries the low-level aggregate
    assert torch.equal(q2, s1) and torch.equal(kv2, high)  # stage 2: stage 1's output queries the high level
    lam1, lam2 = torch.linspace(0.05, 0.3, 48), torch.linspace(0.2, -0.1, 48)
    assert torch.allclose(out, F.normalize(t + lam1 * s1 + lam2 * s2, dim=-1), atol=1e-6)


def test_logits_loss_and_inference_rule(net):
    tokens = net.frozen_tokens(torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(3)))
    with torch.no_grad():
        comp, attr, obj = net(tokens, PAIRS)
        # logits are cosines times CLIP's logit scale
        assert comp.abs().max() <= net.clip.logit_scale.exp() + 1e-4
        scores = net.logit_infer([comp, attr, obj], PAIRS)
    pa, po = attr.softmax(-1), obj.softmax(-1)
    for k, (s, o) in enumerate(PAIRS.tolist()):  # the authors' loop, pair by pair
        assert torch.allclose(scores[:, k], comp[:, k] + pa[:, s] * po[:, o], atol=1e-6)
    y_pair, y_s, y_o = torch.tensor([0, 1, 2, 3]), PAIRS[:, 0], PAIRS[:, 1]
    loss = net.loss([comp, attr, obj], y_pair, y_s, y_o)
    want = F.cross_entropy(comp, y_pair) + F.cross_entropy(attr, y_s) + F.cross_entropy(obj, y_o)
    assert torch.allclose(loss, want)


def test_feasibility_filter_by_hand():
    # states 0,1 similar; objects 0,1 similar; seen: (0,0), (1,1)
    s = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    o = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    f = feasibility_scores(s, o, torch.tensor([[0, 0], [1, 1]]))
    assert f[0, 0] == 1 and f[1, 1] == 1
    # (0,1): object 1 vs objects seen with state 0 (object 0): 0.6; state 0 vs states seen with object 1 (state 1): 0.8
    assert torch.isclose(f[0, 1], torch.tensor(0.7))
    # (2,0): no object seen with state 2 -> -1; state 2 vs state 0 (seen with object 0): 0
    assert torch.isclose(f[2, 0], torch.tensor(-0.5))
    scores = torch.tensor([[3.0, -2.0, 5.0]])
    kept = threshold_with_feasibility(scores, torch.tensor([1.0, 0.7, -0.5]), torch.tensor([1, 0, 0]), 0.5)
    assert kept[0, :2].tolist() == [3.0, -2.0] and kept[0, 2] == float("-inf")
    faithful = threshold_with_feasibility(scores, torch.tensor([1.0, 0.7, -0.5]), torch.tensor([1, 0, 0]), 0.5,
                                          faithful=True)
    assert faithful.tolist() == [[6.0, -2.0, 0.0]]  # the authors' score * (mask + seen_mask)
