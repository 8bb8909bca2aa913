"""VECB / AECB and their pretraining objectives (paper eq.1-8), checked against hand computations."""

import math

import pytest
import torch

from modeling_xemogpt import AECBForPretraining, VECBForPretraining, XEmoGPTConfig
from modeling_xemogpt.contrastive import info_nce_loss
from modeling_xemogpt.modeling_bridge import masked_mean
from modeling_xemogpt.modeling_vecb import random_frame_mask, random_frame_order


@pytest.fixture(scope="module")
def config():
    return XEmoGPTConfig.from_preset(
        "tiny", vecb_text_embed_dim=12, aecb_text_embed_dim=10, bridge_dropout=0.0, temporal_loss_weight=0.3, mfm_loss_weight=0.7
    )


def hand_info_nce(q, k, tau):
    """Eq.3 written out with Python loops."""
    n = q.shape[0]
    cos = [[float(torch.dot(q[i], k[j]) / (q[i].norm() * k[j].norm())) for j in range(n)] for i in range(n)]
    total = 0.0
    for i in range(n):
        denom = sum(math.exp(cos[i][j] / tau) for j in range(n))
        total += -math.log(math.exp(cos[i][i] / tau) / denom)
    return total / n


def test_info_nce_matches_hand_computation():
    torch.manual_seed(1)
    q, k = torch.randn(4, 6), torch.randn(4, 6)
    tau = 0.2
    got = info_nce_loss(q, k, torch.tensor(math.log(1 / tau)))
    assert got.item() == pytest.approx(hand_info_nce(q, k, tau), rel=1e-5)
    # a perfectly aligned batch at low temperature has near-zero loss
    assert info_nce_loss(k, k, torch.tensor(math.log(100.0))).item() < 0.05


def test_temporal_and_mfm_losses_match_hand_computation():
    logits = torch.tensor([2.0, -1.0, 0.5])
    labels = torch.tensor([1.0, 0.0, 0.0])
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    hand = -(math.log(sig(2.0)) + math.log(1 - sig(-1.0)) + math.log(1 - sig(0.5))) / 3
    assert VECBForPretraining.temporal_loss(logits, labels).item() == pytest.approx(hand, rel=1e-6)

    pred = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]]])
    target = torch.tensor([[[0.0, 2.0], [1.0, 1.0], [9.0, 9.0]]])
    mask = torch.tensor([[True, True, False]])
    # masked positions only: ((1)^2 + 0 + 2^2 + 3^2) / (2 positions * 2 dims)
    assert VECBForPretraining.mfm_loss(pred, target, mask).item() == pytest.approx((1 + 0 + 4 + 9) / 4)
    # whatever is predicted at an unmasked position does not matter
    pred2 = pred.clone()
    pred2[0, 2] = 100.0
    assert VECBForPretraining.mfm_loss(pred2, target, mask).item() == pytest.approx((1 + 0 + 4 + 9) / 4)


def test_vecb_shapes_positional_encoding_and_frame_limit(config):
    torch.manual_seed(0)
    model = VECBForPretraining(config).eval()
    x = torch.randn(2, 16, 64)
    h = model.bridge(x)
    assert h.shape == (2, 16, 64)
    # with a positional encoding, permuting the frames does not just permute the output
    perm = torch.randperm(16)
    assert not torch.allclose(model.bridge(x[:, perm]), h[:, perm], atol=1e-4)
    assert model.bridge(x[:, :5]).shape == (2, 5, 64)
    with pytest.raises(ValueError, match="at most 16 frames"):
        model.bridge(torch.randn(1, 17, 64))


def test_vecb_total_loss_is_eq7_of_its_parts(config):
    torch.manual_seed(0)
    model = VECBForPretraining(config).eval()
    x, t = torch.randn(3, 16, 64), torch.randn(3, 12)
    order = torch.stack([torch.arange(16), torch.arange(16).flip(0), torch.arange(16)])
    mask = torch.zeros(3, 16, dtype=torch.bool)
    mask[:, [2, 7, 11]] = True
    out = model(x, t, frame_order=order, mfm_mask=mask)
    assert out.loss.item() == pytest.approx(
        (out.loss_contrastive + 0.3 * out.loss_temporal + 0.7 * out.loss_mfm).item(), rel=1e-6
    )
    # eq.3 part recomputed by hand from the module's own projections
    with torch.no_grad():
        pooled = model.bridge(x).mean(1)
        q = model.alignment.modality_projection(pooled)
        k = model.alignment.text_projection(t)
    tau = 1 / model.alignment.logit_scale.exp().item()
    assert out.loss_contrastive.item() == pytest.approx(hand_info_nce(q, k, tau), rel=1e-4)
    # eq.4 labels derived from the permutations: rows 0 and 2 ordered, row 1 shuffled
    with torch.no_grad():
        logits = model.temporal_head(model.bridge(x[:, order[1]]).mean(1)).squeeze(-1)
    assert out.temporal_logits[1].item() == pytest.approx(logits[1].item(), rel=1e-5)
    expected_temp = VECBForPretraining.temporal_loss(out.temporal_logits, torch.tensor([1.0, 0.0, 1.0]))
    assert out.loss_temporal.item() == pytest.approx(expected_temp.item(), rel=1e-6)
    # eq.5 recomputed: mask token in, reconstruction at masked positions only
    with torch.no_grad():
        masked = torch.where(mask.unsqueeze(-1), model.mask_token, x)
        rec = model.mfm_head(model.bridge(masked))
    hand = ((rec[mask] - x[mask]) ** 2).mean().item()
    assert out.loss_mfm.item() == pytest.approx(hand, rel=1e-5)


def test_vecb_pretraining_trains_all_heads_and_temperature(config):
    torch.manual_seed(0)
    model = VECBForPretraining(config)
    out = model(torch.randn(4, 16, 64), torch.randn(4, 12))
    out.loss.backward()
    for name in ("alignment.logit_scale", "mask_token", "bridge.position_embedding", "temporal_head.0.weight", "mfm_head.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_random_order_and_mask_helpers():
    gen = torch.Generator().manual_seed(0)
    perms, labels = random_frame_order(64, 16, generator=gen)
    identity = torch.arange(16)
    for perm, label in zip(perms, labels):
        assert sorted(perm.tolist()) == list(range(16))
        assert bool(torch.equal(perm, identity)) == bool(label == 1)
    assert 0 < labels.sum() < 64
    mask = random_frame_mask(5, 16, 0.25, generator=gen)
    assert mask.shape == (5, 16) and (mask.sum(1) == 4).all()


def test_aecb_ignores_padding_and_pools_only_real_frames(config):
    torch.manual_seed(0)
    model = AECBForPretraining(config).eval()
    feats = torch.randn(2, 30, 64)
    mask = torch.ones(2, 30, dtype=torch.long)
    mask[1, 18:] = 0
    h = model.bridge(feats, mask)
    assert h.shape == (2, 30, 64)
    garbage = feats.clone()
    garbage[1, 18:] = 1e3
    h2 = model.bridge(garbage, mask)
    assert torch.allclose(h[1, :18], h2[1, :18], atol=1e-5)
    pooled = masked_mean(h, mask)
    assert torch.allclose(pooled[1], h[1, :18].mean(0), atol=1e-6)
    out = model(feats, mask, torch.randn(2, 10))
    assert out.loss.ndim == 0 and out.audio_embeds.shape == (2, config.contrastive_dim)
    assert torch.allclose(out.audio_embeds.norm(dim=-1), torch.ones(2), atol=1e-5)


def test_aecb_loss_is_eq6(config):
    torch.manual_seed(3)
    model = AECBForPretraining(config).eval()
    feats, text = torch.randn(3, 20, 64), torch.randn(3, 10)
    mask = torch.ones(3, 20, dtype=torch.long)
    mask[0, 12:] = 0
    out = model(feats, mask, text)
    with torch.no_grad():
        q = model.alignment.modality_projection(masked_mean(model.bridge(feats, mask), mask))
        k = model.alignment.text_projection(text)
    tau = 1 / model.alignment.logit_scale.exp().item()
    assert out.loss.item() == pytest.approx(hand_info_nce(q, k, tau), rel=1e-4)
    assert tau == pytest.approx(config.temperature_init, rel=1e-5)


def test_pretraining_models_round_trip_safetensors(config, tmp_path):
    torch.manual_seed(0)
    model = VECBForPretraining(config).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    again = VECBForPretraining.from_pretrained(tmp_path).eval()
    x = torch.randn(2, 16, 64)
    assert torch.equal(model(x).video_embeds, again(x).video_embeds)


def test_bridge_layer_type_backbone_and_checkpoints_without_the_field(tmp_path):
    """`bridge_layer_type="backbone"` builds the backbones' own encoder layers (the paper preset, as the authors'
    release); a checkpoint saved before the field existed loads as `"pre_norm"` with its weights."""
    import json

    from transformers.models.clip.modeling_clip import CLIPEncoderLayer
    from transformers.models.hubert.modeling_hubert import HubertEncoderLayer

    from modeling_xemogpt import XEmoGPTConfig, XEmoGPTForConditionalGeneration

    assert XEmoGPTConfig.from_preset("paper").bridge_layer_type == "backbone"
    assert XEmoGPTConfig.from_preset("tiny").bridge_layer_type == "pre_norm"
    model = XEmoGPTForConditionalGeneration(XEmoGPTConfig.from_preset("tiny", bridge_layer_type="backbone")).eval()
    assert isinstance(model.vecb.encoder.layers[0], CLIPEncoderLayer)
    assert isinstance(model.aecb.encoder.layers[1], HubertEncoderLayer)
    with pytest.raises(ValueError, match="bridge_layer_type must be one of pre_norm, backbone"):
        XEmoGPTConfig.from_preset("tiny", bridge_layer_type="clip")

    old = XEmoGPTForConditionalGeneration(XEmoGPTConfig.from_preset("tiny")).eval()
    old.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config.pop("bridge_layer_type")
    (tmp_path / "config.json").write_text(json.dumps(config))
    again = XEmoGPTForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert again.config.bridge_layer_type == "pre_norm"
    for key, value in old.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key


# -- the order-aware AECB objectives (issue #23; not in the paper) -------------------------------------------------
def test_reverse_negative_loss_matches_hand_computation():
    from modeling_xemogpt.modeling_aecb import reverse_negative_loss

    # clip 0: its own caption is at cosine 1, its reversed copy at cosine 0; clip 1: both at cosine 0.6 (3,4 vs 3,-4)
    audio = torch.tensor([[1.0, 0.0], [3.0, 4.0]])
    reversed_ = torch.tensor([[0.0, 2.0], [3.0, -4.0]])
    text = torch.tensor([[5.0, 0.0], [1.0, 0.0]])
    tau = 0.5
    got = reverse_negative_loss(audio, reversed_, text, torch.tensor([math.log(1 / tau)]))
    clip0 = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + math.exp(0 / tau)))
    clip1 = -math.log(0.5)
    assert got.item() == pytest.approx((clip0 + clip1) / 2, rel=1e-6)


def test_reverse_frames_reverses_real_frames_only():
    from modeling_xemogpt.modeling_aecb import reverse_frames

    x = torch.arange(5.0).view(1, 5, 1).repeat(2, 1, 3)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    got = reverse_frames(x, mask)[..., 0]
    assert got.tolist() == [[4, 3, 2, 1, 0], [2, 1, 0, 3, 4]]
    assert reverse_frames(x)[0, :, 0].tolist() == [4, 3, 2, 1, 0]


def test_aecb_objective_none_is_eq6_alone(config):
    torch.manual_seed(3)
    model = AECBForPretraining(config).eval()
    feats, text = torch.randn(3, 20, 64), torch.randn(3, 10)
    out = model(feats, None, text)
    assert out.loss_temporal is None and out.loss.item() == out.loss_contrastive.item()


def test_reverse_negative_needs_the_position_embedding():
    """Without a position embedding AECB is permutation-equivariant, so a clip and its reverse pool to the same
    h_a and the hard negative cannot be separated (loss exactly log 2); with the learned embedding it can."""
    torch.manual_seed(0)
    feats, text = torch.randn(4, 12, 64), torch.randn(4, 10)
    mask = torch.ones(4, 12, dtype=torch.long)
    mask[2, 7:] = 0
    losses = {}
    for pe in (None, "learned"):
        cfg = XEmoGPTConfig.from_preset("tiny", aecb_text_embed_dim=10, bridge_dropout=0.0, aecb_position_embedding=pe,
                                        aecb_temporal_objective="reverse_negative", aecb_temporal_loss_weight=0.5)
        torch.manual_seed(1)
        model = AECBForPretraining(cfg).eval()
        out = model(feats, mask, text)
        assert out.loss.item() == pytest.approx(out.loss_contrastive.item() + 0.5 * out.loss_temporal.item(), rel=1e-5)
        losses[pe] = out.loss_temporal.item()
    assert losses[None] == pytest.approx(math.log(2.0), abs=1e-5)
    assert abs(losses["learned"] - math.log(2.0)) > 1e-4


def test_aecb_order_objective_is_eq4_on_audio():
    from modeling_xemogpt.modeling_aecb import random_audio_order

    cfg = XEmoGPTConfig.from_preset("tiny", aecb_text_embed_dim=10, bridge_dropout=0.0, aecb_position_embedding="learned",
                                    aecb_temporal_objective="order")
    torch.manual_seed(2)
    model = AECBForPretraining(cfg).eval()
    feats, text = torch.randn(2, 8, 64), torch.randn(2, 10)
    mask = torch.tensor([[1] * 8, [1] * 5 + [0] * 3])
    order = torch.tensor([list(range(8)), [4, 3, 2, 1, 0, 5, 6, 7]])
    out = model(feats, mask, text, frame_order=order)  # labels from the order: clip 0 ordered, clip 1 shuffled
    with torch.no_grad():
        shuffled = torch.gather(feats, 1, order.unsqueeze(-1).expand_as(feats))
        logits = model.temporal_head(masked_mean(model.bridge(shuffled, mask), mask)).squeeze(-1)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([1.0, 0.0]))
    assert out.loss_temporal.item() == pytest.approx(expected.item(), rel=1e-5)
    index, labels = random_audio_order(torch.tensor([8, 5, 1]), 8, generator=torch.Generator().manual_seed(0))
    for row, n, label in zip(index, (8, 5, 1), labels):
        assert sorted(row[:n].tolist()) == list(range(n)) and row[n:].tolist() == list(range(n, 8))
        assert bool(label == 1) == bool(torch.equal(row, torch.arange(8)))


def test_aecb_options_are_checked_and_the_paper_keeps_eq6():
    paper = XEmoGPTConfig.from_preset("paper")
    assert (paper.aecb_temporal_objective, paper.aecb_position_embedding, paper.aecb_pooling) == ("none", None, "mean")
    with pytest.raises(ValueError, match="aecb_temporal_objective"):
        XEmoGPTConfig.from_preset("tiny", aecb_temporal_objective="backwards")


def test_attentive_statistics_pooling_ignores_padding():
    from modeling_xemogpt.modeling_aecb import AttentiveStatisticsPooling

    torch.manual_seed(0)
    pool = AttentiveStatisticsPooling(6)
    h = torch.randn(1, 5, 6)
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    garbage = h.clone()
    garbage[0, 3:] = 1e3
    assert torch.allclose(pool(h, mask), pool(garbage, mask), atol=1e-5)
    assert torch.allclose(pool(h[:, :3]), pool(h, mask), atol=1e-5)


def test_stage3_model_takes_an_aecb_with_position_embedding(tmp_path):
    from modeling_xemogpt import XEmoGPTForConditionalGeneration

    cfg = XEmoGPTConfig.from_preset("tiny", aecb_position_embedding="learned", aecb_temporal_objective="reverse_negative",
                                    bridge_dropout=0.0)
    torch.manual_seed(0)
    stage2 = AECBForPretraining(cfg)
    with torch.no_grad():
        stage2.bridge.position_embedding.add_(1.0)
    stage2.save_pretrained(tmp_path)
    model = XEmoGPTForConditionalGeneration(cfg).load_bridges(aecb=tmp_path)
    assert torch.equal(model.aecb.position_embedding, stage2.bridge.position_embedding)
    assert model.aecb.position_embedding.shape == (cfg.aecb_max_frames, 64) and cfg.aecb_max_frames == 600


def test_aecb_segment_context_adds_the_halves_means_to_every_frame():
    from modeling_xemogpt.modeling_aecb import AudioEmotionalCueBridge

    x = torch.arange(6.0).view(1, 6, 1).repeat(2, 1, 2)  # frames 0..5, two channels
    mask = torch.tensor([[1] * 6, [1, 1, 1, 1, 0, 0]])
    means = AudioEmotionalCueBridge.segment_means(x, mask)
    # clip 0: first half frames 0,1,2 -> 1, second half 3,4,5 -> 4; clip 1 (4 real frames): 0,1 -> 0.5, 2,3 -> 2.5
    assert means.tolist() == [[1.0, 1.0, 4.0, 4.0], [0.5, 0.5, 2.5, 2.5]]
    cfg = XEmoGPTConfig.from_preset("tiny", bridge_dropout=0.0, aecb_segment_context=True)
    plain_cfg = XEmoGPTConfig.from_preset("tiny", bridge_dropout=0.0)
    torch.manual_seed(0)
    bridge = AECBForPretraining(cfg).bridge.eval()
    plain = AudioEmotionalCueBridge(plain_cfg).eval()
    plain.encoder.load_state_dict(bridge.encoder.state_dict())
    feats = torch.randn(2, 10, 64)
    feats_mask = torch.tensor([[1] * 10, [1] * 7 + [0] * 3])
    assert torch.equal(bridge.segment_context, torch.zeros(64, 128))  # zero at init: eq.2 unchanged
    assert torch.allclose(bridge(feats, feats_mask), plain(feats, feats_mask), atol=1e-6)
    with torch.no_grad():
        bridge.segment_context.normal_()
    context = AudioEmotionalCueBridge.segment_means(feats, feats_mask) @ bridge.segment_context.t()
    expected = plain(feats + context.unsqueeze(1), feats_mask)
    assert torch.allclose(bridge(feats, feats_mask)[1, :7], expected[1, :7], atol=1e-5)
    # a clip and its reverse differ now: the contour is in the frames' mean
    from modeling_xemogpt.modeling_aecb import reverse_frames

    reversed_out = bridge(reverse_frames(feats, feats_mask), feats_mask)
    assert not torch.allclose(masked_mean(reversed_out, feats_mask), masked_mean(bridge(feats, feats_mask), feats_mask),
                              atol=1e-3)
