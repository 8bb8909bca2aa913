"""The model-core issue's user snippet, run verbatim in a fresh process that cannot import this repository:
AutoModel/AutoProcessor with trust_remote_code, apply_chat_template on a real mp4, generate, batch_decode; then the
processor's placeholder API with a batch of clips where the video or the audio is left out."""

import os
import subprocess
import sys
import textwrap

import torch

from modeling_xemogpt import XEmoGPTConfig, XEmoGPTForConditionalGeneration
from processing_xemogpt import XEmoGPTProcessor

from isolation import BLOCK_REPO_IMPORTS


def test_user_snippet_in_a_fresh_process(tmp_path, mp4_with_audio, mp4_no_audio, wav_file):
    torch.manual_seed(0)
    ckpt = tmp_path / "xemogpt-tiny"
    XEmoGPTForConditionalGeneration(XEmoGPTConfig.from_preset("tiny")).save_pretrained(ckpt)
    XEmoGPTProcessor.from_preset("tiny").save_pretrained(ckpt)
    script = BLOCK_REPO_IMPORTS + textwrap.dedent(
        f"""
        import torch
        from transformers import AutoModel, AutoProcessor
        DIR_OR_ID = {str(ckpt)!r}
        model = AutoModel.from_pretrained(DIR_OR_ID, trust_remote_code=True)
        processor = AutoProcessor.from_pretrained(DIR_OR_ID, trust_remote_code=True)
        assert type(model).__name__ == "XEmoGPTForConditionalGeneration", type(model)
        assert type(processor).__name__ == "XEmoGPTProcessor", type(processor)
        messages = [{{"role": "user", "content": [
            {{"type": "video", "path": {str(mp4_with_audio)!r}}},
            {{"type": "audio", "path": {str(mp4_with_audio)!r}}},
            {{"type": "text", "text": "The subtitle is: I did it! Please infer the person's emotional state and explain the visual and audio cues."}}]}}]
        inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                               return_dict=True, return_tensors="pt")
        assert inputs["pixel_values_videos"].shape[:3] == (1, 16, 3), inputs["pixel_values_videos"].shape
        n_audio = int((inputs["input_ids"] == model.config.audio_token_id).sum())
        assert n_audio == int(model.audio_output_lengths(inputs["audio_attention_mask"].sum(-1))[0]), n_audio
        out = model.generate(**inputs, max_new_tokens=12)
        text = processor.batch_decode(out, skip_special_tokens=True)
        assert isinstance(text, list) and len(text) == 1 and isinstance(text[0], str)

        # placeholders directly, a batch of three: both modalities, video only, audio only (wav)
        batch = processor(
            text=["Audio: <audio>\\nVideo: <video>\\nHow does she feel?", "Video: <video>\\nAnd him?", "Audio: <audio>\\nAnd now?"],
            videos=[{str(mp4_with_audio)!r}, {str(mp4_no_audio)!r}],
            audio=[{str(mp4_with_audio)!r}, {str(wav_file)!r}],
            return_tensors="pt",
        )
        assert batch["input_ids"].shape[0] == 3 and batch["pixel_values_videos"].shape[0] == 2
        assert batch["input_values"].shape[0] == 2 and batch["attention_mask"][:, -1].all()  # left padded
        out = model.generate(**batch, max_new_tokens=5, do_sample=False)
        print("OK", len(text[0]), tuple(out.shape))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"))
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip().splitlines()[-1].startswith("OK")
