"""torchvision's one-tower AlexNet (SPEC §5): same keys, same outputs, same counts."""

import torch
import torchvision

from alexnet import models


def test_owt_has_61_100_840_parameters():
    assert sum(p.numel() for p in models.alexnet_owt().parameters()) == 61_100_840


def test_torchvision_state_dict_loads_strictly_and_gives_the_same_outputs():
    torch.manual_seed(0)
    tv = torchvision.models.alexnet(weights=None).eval()
    ours = models.alexnet_owt().eval()
    assert list(ours.state_dict()) == list(tv.state_dict())
    ours.load_state_dict(tv.state_dict(), strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x), rtol=0, atol=0)   # the same layers, same order: bit for bit
        fc7 = ours.forward_head(ours.forward_features(x), pre_logits=True)
    assert fc7.shape == (2, 4096)


def test_owt_on_grey_input_and_new_classes():
    net = models.alexnet_owt(num_classes=10, in_channels=1)
    assert net(torch.randn(2, 1, 96, 96)).shape == (2, 10)
    net.reset_classifier(4)
    assert net(torch.randn(1, 1, 224, 224)).shape == (1, 4)
