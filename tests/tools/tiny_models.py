"""Tiny random models for the captioning and masking tools, saved the way their real checkpoints are."""
from __future__ import annotations

import csv
from pathlib import Path

WORDS = ['a', 'photo', 'of', 'cat', 'dog', 'red', 'blue', 'green', 'on', 'the', 'grass', 'sky']


def _bert_tokenizer():
    from transformers import BertTokenizerFast

    tokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '[DEC]', *WORDS]
    return BertTokenizerFast(vocab={token: i for i, token in enumerate(tokens)}, bos_token='[DEC]')


def blip(folder: Path) -> Path:
    """BLIP captioning with 32-pixel images and a 17-word vocabulary."""
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessorPil, BlipProcessor

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _bert_tokenizer()
    vocab = len(tokenizer)
    torch.manual_seed(0)
    config = BlipConfig(
        text_config=dict(vocab_size=vocab, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=37, max_position_embeddings=64, bos_token_id=5, pad_token_id=0,
                         sep_token_id=3, eos_token_id=3, encoder_hidden_size=32),
        vision_config=dict(hidden_size=32, image_size=32, patch_size=8, num_hidden_layers=1,
                           num_attention_heads=2, intermediate_size=37),
        projection_dim=32)
    model = BlipForConditionalGeneration(config).eval()
    with torch.no_grad():  # never end early: every caption has max_new_tokens words to compare
        model.text_decoder.cls.predictions.bias[:6] = -1e4  # and only words, no special tokens
    model.save_pretrained(folder)
    processor = BlipProcessor(image_processor=BlipImageProcessorPil(size={'height': 32, 'width': 32}),
                              tokenizer=tokenizer)
    processor.save_pretrained(folder)
    return folder


def wd14(folder: Path, size: int = 16) -> Path:
    """A WD14-shaped tagger: NHWC BGR input, one sigmoid score per tag of selected_tags.csv.

    Tag scores follow the image's mean channels (blue, green, red), so a test knows which tags a
    coloured image gets."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    # tag: (category, weights on mean B, G, R in 0..255, bias)
    tags = [('rating_general', 9, (0, 0, 0), 10), ('red_theme', 0, (-0.1, -0.1, 0.1), 0),
            ('blue_theme', 0, (0.1, -0.1, -0.1), 0), ('hero_(character)', 4, (0, 0, 0.1), -20)]
    weights = np.array([t[2] for t in tags], dtype=np.float32).T  # (3, tags)
    bias = np.array([t[3] for t in tags], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node('ReduceMean', ['input_1', 'axes'], ['mean'], keepdims=0),
         helper.make_node('MatMul', ['mean', 'w'], ['logits']),
         helper.make_node('Add', ['logits', 'b'], ['shifted']),
         helper.make_node('Sigmoid', ['shifted'], ['predictions_sigmoid'])],
        'tiny_tagger',
        [helper.make_tensor_value_info('input_1', TensorProto.FLOAT, ['N', size, size, 3])],
        [helper.make_tensor_value_info('predictions_sigmoid', TensorProto.FLOAT, ['N', len(tags)])],
        [numpy_helper.from_array(np.array([1, 2], dtype=np.int64), 'axes'),
         numpy_helper.from_array(weights, 'w'), numpy_helper.from_array(bias, 'b')])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 18)])
    model.ir_version = 9
    onnx.save(model, folder / 'model.onnx')
    with (folder / 'selected_tags.csv').open('w', newline='') as handle:
        writer = csv.writer(handle)
        writer.writerow(['tag_id', 'name', 'category', 'count'])
        for i, (name, category, _, _) in enumerate(tags):
            writer.writerow([i, name, category, 100])
    return folder


def clipseg(folder: Path) -> Path:
    """ClipSeg with 32-pixel images; a byte-level CLIP tokenizer of a few words."""
    import torch
    from transformers import (
        CLIPSegConfig,
        CLIPSegForImageSegmentation,
        CLIPSegProcessor,
        CLIPTokenizer,
        ViTImageProcessorPil,
    )

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {'<|startoftext|>': 0, '<|endoftext|>': 1, '!': 2}
    for word in WORDS:
        vocab[f'{word}</w>'] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], unk_token='<|endoftext|>')
    torch.manual_seed(0)
    config = CLIPSegConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=37, max_position_embeddings=16, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1),
        vision_config=dict(hidden_size=32, image_size=32, patch_size=8, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=37),
        projection_dim=32, reduce_dim=16, extract_layers=[1], decoder_num_attention_heads=2,
        decoder_intermediate_size=37)
    CLIPSegForImageSegmentation(config).eval().save_pretrained(folder)
    image_processor = ViTImageProcessorPil(size={'height': 32, 'width': 32})
    CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def segformer(folder: Path) -> Path:
    """A one-stage Segformer with the labels 'background', 'sky' and 'grass'."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessorPil

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    labels = {0: 'background', 1: 'sky', 2: 'grass'}
    config = SegformerConfig(num_encoder_blocks=1, depths=[1], sr_ratios=[1], hidden_sizes=[16], patch_sizes=[3],
                             strides=[2], num_attention_heads=[1], mlp_ratios=[2], decoder_hidden_size=16,
                             id2label=labels, label2id={v: k for k, v in labels.items()})
    SegformerForSemanticSegmentation(config).eval().save_pretrained(folder)
    SegformerImageProcessorPil(size={'height': 32, 'width': 32}).save_pretrained(folder)
    return folder


def u2net(path: Path) -> Path:
    """A u2net-shaped ONNX file: (N, 3, 320, 320) in, (N, 1, 320, 320) out, bright pixels score high."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path.parent.mkdir(parents=True, exist_ok=True)
    graph = helper.make_graph(
        [helper.make_node('ReduceMean', ['input.1', 'axes'], ['d0'], keepdims=1)],
        'tiny_u2net',
        [helper.make_tensor_value_info('input.1', TensorProto.FLOAT, ['N', 3, 320, 320])],
        [helper.make_tensor_value_info('d0', TensorProto.FLOAT, ['N', 1, 320, 320])],
        [numpy_helper.from_array(np.array([1], dtype=np.int64), 'axes')])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 18)])
    model.ir_version = 9
    onnx.save(model, path)
    return path


def florence2(folder: Path) -> Path:
    """Florence-2 with a two-stage vision tower on 32-pixel images (17 image tokens) and a tiny BART."""
    import torch
    from transformers import (
        BartConfig,
        BartTokenizer,
        CLIPImageProcessorPil,
        Florence2Config,
        Florence2ForConditionalGeneration,
        Florence2Processor,
        Florence2VisionConfig,
    )

    folder.mkdir(parents=True, exist_ok=True)
    specials = ['<s>', '<pad>', '</s>', '<unk>', '<image>', '<mask>']
    vocab = {token: i for i, token in enumerate(specials)}
    for token in [*WORDS, *(f'Ġ{w}' for w in WORDS), *'abcdefghijklmnopqrstuvwxyz.,?', 'Ġ']:
        vocab.setdefault(token, len(vocab))
    tokenizer = BartTokenizer(vocab=vocab, merges=[], extra_special_tokens={'image_token': '<image>'})
    vision = Florence2VisionConfig(
        depths=(1, 1), patch_size=(7, 3), patch_stride=(4, 2), patch_padding=(3, 1), patch_prenorm=(False, True),
        embed_dim=(16, 32), num_heads=(2, 4), num_groups=(2, 4), window_size=2, projection_dim=32,
        max_position_embeddings=16, max_temporal_embeddings=4)
    text = BartConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=128,
        bos_token_id=0, pad_token_id=1, eos_token_id=2, decoder_start_token_id=2, forced_bos_token_id=None,
        forced_eos_token_id=None)
    torch.manual_seed(0)
    model = Florence2ForConditionalGeneration(
        Florence2Config(vision_config=vision, text_config=text, image_token_id=tokenizer.image_token_id)).eval()
    model.generation_config.suppress_tokens = list(range(len(specials)))  # only words, up to max_new_tokens
    model.save_pretrained(folder)
    image_processor = CLIPImageProcessorPil(size={'height': 32, 'width': 32}, do_center_crop=False,
                                            image_seq_length=17)
    Florence2Processor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def blip2(folder: Path) -> Path:
    """BLIP-2 with 4 query tokens and a one-layer OPT; the processor adds its <image> token."""
    import torch
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
        BlipImageProcessorPil,
        GPT2Tokenizer,
    )

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {'</s>': 0, '<pad>': 1, '<unk>': 2}
    for token in [*WORDS, *(f'Ġ{w}' for w in WORDS), *'abcdefghijklmnopqrstuvwxyz.,?', 'Ġ']:
        vocab.setdefault(token, len(vocab))
    tokenizer = GPT2Tokenizer(vocab=vocab, merges=[], bos_token='</s>', eos_token='</s>', pad_token='<pad>',
                              unk_token='<unk>')
    processor = Blip2Processor(image_processor=BlipImageProcessorPil(size={'height': 32, 'width': 32}),
                               tokenizer=tokenizer, num_query_tokens=4)
    image_token = tokenizer.convert_tokens_to_ids('<image>')
    config = Blip2Config(
        vision_config=dict(hidden_size=32, image_size=32, patch_size=8, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=37),
        qformer_config=dict(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=37, encoder_hidden_size=32, max_position_embeddings=64),
        text_config=dict(model_type='opt', vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                         num_attention_heads=2, ffn_dim=37, max_position_embeddings=64, word_embed_proj_dim=32,
                         bos_token_id=0, eos_token_id=0, pad_token_id=1),
        num_query_tokens=4, image_token_index=image_token)
    torch.manual_seed(0)
    model = Blip2ForConditionalGeneration(config).eval()
    model.generation_config.suppress_tokens = [0, 1, 2, image_token]  # only words, up to max_new_tokens
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
